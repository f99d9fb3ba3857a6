"""Atomic writes of the study's files: a temporary file of a unique name beside the target, flushed to disk, then
renamed over it, so a reader (another shard, a rerun after kill -9) sees the old file or the whole new one."""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.errors import FluidlossError


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Let `write` fill a fresh temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise FluidlossError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, content: Any) -> None:
    """Write strict JSON atomically."""
    write_text(path, json.dumps(content, indent=1, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise FluidlossError(f"cannot read {path}: {exc}") from None
