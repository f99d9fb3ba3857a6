"""Paths a user names, checked before use: an input file that is there and readable as text or data, a symbolic link
that loops back to itself (as `ln -s x x` makes), and comparisons of paths that never fail on such a link. Torch-free.
"""

import errno
import os
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError


def loops(path: Path) -> bool:
    """Whether `path` is a symbolic link that leads, through links, back to itself (opening it fails with ELOOP;
    `Path.exists()` says False and `Path.resolve()` raises RuntimeError)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def refuse_loop(path: Path, target: Path | None = None) -> None:
    """Stop with one line if `path` loops; `target`: the output it was to hold (named first: `cannot write TARGET`)."""
    if loops(path):
        raise FluidlossError((f"cannot write {target}: " if target is not None else "") +
                             f"{path} is a symbolic link that loops back to itself; point it at a real file or folder")


def check_input_file(path: Path, what: str) -> None:
    """Refuse an input that is missing, a looping link or a folder, naming it as `what` (dataset, checkpoint)."""
    path = Path(path)
    refuse_loop(path)
    if not path.exists():
        raise FluidlossError(f"{path}: no such {what}" + (" (a symbolic link to a missing file)" if path.is_symlink()
                                                          else ""))
    if path.is_dir():
        raise FluidlossError(f"{path}: is a directory, not a {what}")


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of an input file (a TOML config), or one line saying why it cannot be read: missing, a looping
    link, a folder, unreadable, or not text (a binary file)."""
    check_input_file(path, what)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FluidlossError(f"{path}: {what} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}): "
                             "is it a binary file?") from None
    except OSError as exc:
        raise FluidlossError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name the same file after following links; a looping link is only itself (never raises)."""
    return os.path.realpath(first) == os.path.realpath(second)


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it, after following links (never raises)."""
    path, folder = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return path == folder or folder in path.parents
