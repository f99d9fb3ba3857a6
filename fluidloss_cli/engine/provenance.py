"""Provenance stamped into every file fluidloss writes: versions, command line, time."""

import datetime
import platform
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


_command_line: list[str] = sys.argv[1:]


def record_command_line(args: list[str]) -> None:
    """Remember the arguments fluidloss was invoked with (the CLI calls this; sys.argv otherwise)."""
    global _command_line
    _command_line = list(args)


def provenance() -> dict[str, Any]:
    """Who made this file, with what, and how: enough to reproduce it."""
    return {
        "fluidloss": _version("fluidloss"),
        "phiflow": _version("phiflow"),
        "phiml": _version("phiml"),
        "torch": _version("torch"),
        "h5py": _version("h5py"),
        "numpy": _version("numpy"),
        "python": platform.python_version(),
        "command": shlex.join(["fluidloss", *_command_line]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
