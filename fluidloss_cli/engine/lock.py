"""An exclusive lock on an output for the length of a run, so two runs never write (or --overwrite) the same one.

The lock is `fcntl.flock` on `OUTPUT.lock` beside the output, which records the owner's pid. The kernel drops it when
the owner exits, however it exits, so a killed run never blocks the next one; the file itself is removed on release.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fluidloss_cli.engine.atomic import write_error
from fluidloss_cli.engine.errors import FluidlossError


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def refuse_if_locked(output: Path) -> None:
    """Raise the one line of `acquire` now if a live run holds `output`, without taking the lock (a check before a
    command prints anything; the run takes the lock itself)."""
    if lock_path(output).exists():
        release(output, acquire(output), remove=False)


def acquire(output: Path) -> int:
    """Take the lock of `output` without waiting and return its file descriptor, or raise one line naming the
    process that holds it."""
    path = lock_path(output)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FluidlossError(f"{output} is being written by another fluidloss run (pid {owner}); wait for it to "
                                 "finish or stop it") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the previous owner removed the file between our open and flock: lock the new one
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release(output: Path, fd: int, remove: bool = True) -> None:
    """Give the lock of `output` back and (by default) remove its file."""
    if remove:
        lock_path(output).unlink(missing_ok=True)
    os.close(fd)


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold the lock of `output` for the body of the `with`."""
    fd = acquire(output)
    try:
        yield
    finally:
        release(output, fd)
