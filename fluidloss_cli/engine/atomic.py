"""Writing files atomically, and the one-line messages for outputs that are taken or cannot be written.

A file is written under a unique temporary name beside it (`NAME.PID-TOKEN.tmp`), flushed to disk, renamed into
place and its directory flushed, so a reader sees the old file or the complete new one and a crash loses nothing
finished. Temporaries that a killed run left behind are removed by the next write of the same file; those of a
live process are never touched.
"""

import errno
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError

_REASONS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


def write_error(path: Path, exc: BaseException) -> FluidlossError:
    """One line for a failed write of `path`: `disk full while writing PATH`, or the system's reason."""
    code = getattr(exc, "errno", None)
    if code is None:  # HDF5 reports the system error inside its message: "... errno = 28, error message = ..."
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    if code in _REASONS:
        return FluidlossError(f"{_REASONS[code]} while writing {path}")
    detail = os.strerror(code) if code else " ".join(str(exc).split())[:200]
    return FluidlossError(f"cannot write {path}: {detail}")


ROOM_MARGIN = 8 << 20
"""Bytes kept free while an HDF5 file is written: room for HDF5's chunk and metadata caches to reach the disk. HDF5
1.14 / h5py 3.16 crash the interpreter (segmentation fault) when closing a file meets a full disk, so writers stop
with a clean error before the disk is that full."""


def check_room(path: Path, upcoming: int) -> None:
    """Raise `disk full while writing PATH` unless the disk holding `path` has room for `upcoming` more bytes plus
    ROOM_MARGIN; HDF5 writers call it before each frame or block."""
    stats = os.statvfs(path.parent)
    free = stats.f_bavail * stats.f_frsize
    if free < upcoming + ROOM_MARGIN:
        raise FluidlossError(f"disk full while writing {path}: {free / 2**20:.1f} MiB free, the next write needs "
                             f"{(upcoming + ROOM_MARGIN) / 2**20:.1f} MiB with HDF5's caches")


def refuse_existing(path: Path, what: str = "exists", other: str = "") -> None:
    """Stop with one line because `path` is taken and --overwrite was not passed: `PATH WHAT: [OTHER, or ]pass
    --overwrite to replace it` (`what` says how it is taken, `other` offers another way out)."""
    raise FluidlossError(f"{path} {what}: {other + ', or ' if other else ''}pass --overwrite to replace it")


def make_folder(folder: Path, target: Path) -> None:
    """Create `folder` and its parents for writing `target` in it, or stop with one line (`write_error`): a read-only
    file system, no permission, a file in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(target, exc) from None


def check_writable_dir(folder: Path, target: Path) -> None:
    """Stop with one line unless `folder` is an existing directory this process can create files in."""
    if not folder.is_dir():
        raise FluidlossError(f"cannot write {target}: {folder} is not an existing directory")
    if not os.access(folder, os.W_OK) or not _accepts_files(folder):
        raise FluidlossError(f"cannot write {target}: directory {folder} is not writable")


def _accepts_files(folder: Path) -> bool:
    """Whether a file can really be created in `folder` (os.access says yes for root, and for /proc)."""
    probe = folder / f".fluidloss-probe.{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.touch(exist_ok=False)
    except OSError:
        return False
    probe.unlink()
    return True


def temporary_path(path: Path, keep_suffix: bool = False) -> Path:
    """A unique temporary name beside `path` that records this process's id; `keep_suffix` keeps the extension last
    (for writers that choose the format by it)."""
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    if keep_suffix:
        return path.with_name(f"{path.stem}.{tag}.tmp{path.suffix}")
    return path.with_name(f"{path.name}.{tag}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporaries of `path` left by killed runs (and the fixed names of older versions); keep those
    whose process is alive. Returns what was removed."""
    folder, name, stem, suffix = path.parent, path.name, path.stem, path.suffix
    patterns = [re.escape(name) + r"\.(\d+)-[0-9a-f]+\.tmp", re.escape(stem) + r"\.(\d+)-[0-9a-f]+\.tmp"
                + re.escape(suffix), re.escape(name) + r"\.(tmp|part)", re.escape(stem) + r"\.(tmp)" + re.escape(suffix)]
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        for pattern in patterns:
            found = re.fullmatch(pattern, entry.name)
            if found and (not found.group(1).isdigit() or not _alive(int(found.group(1)))):
                entry.unlink(missing_ok=True)
                removed.append(entry)
                break
    return removed


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path for the caller to write `path`'s content to; on success it is flushed and renamed onto
    `path`, on any failure removed. Write errors (disk full, read-only, permissions) become one-line errors."""
    path = Path(path)
    remove_stale_temporaries(path)
    tmp = temporary_path(path, keep_suffix)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        with suppress(OSError):  # a read-only file system refuses even the unlink of a file never created
            tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    write_bytes(path, text.encode())
