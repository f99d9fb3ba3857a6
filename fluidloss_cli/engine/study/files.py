"""The study's JSON and text files, written through engine/atomic (a reader, another shard or a rerun after kill -9,
sees the old file or the whole new one) into folders created on demand."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fluidloss_cli.engine import atomic
from fluidloss_cli.engine.errors import FluidlossError


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """`atomic.atomic_path` in a folder created first: a temporary path to write, renamed onto `path` on success."""
    atomic.make_folder(path.parent, path)
    with atomic.atomic_path(path) as tmp:
        yield tmp


def write_text(path: Path, text: str) -> None:
    """`atomic.write_text` in a folder created first."""
    atomic.make_folder(path.parent, path)
    atomic.write_text(path, text)


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
