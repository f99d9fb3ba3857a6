"""What this machine has left for a job, read before the job starts (memory this process can still take, free disk
space), and the one-line refusals of a job whose estimate exceeds it: `--width 100000` or `--frames 1000000000` stop at
once with the figures, instead of failing inside torch's allocator or after hours of filling the disk. Torch-free."""

import os
import resource
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError


def gib(count: float) -> str:
    """Bytes in GiB for a message, e.g. `3.2 GiB`."""
    return f"{count / 2**30:,.1f} GiB"


def _meminfo_available() -> int:
    """The kernel's MemAvailable (free memory and what caches would give back); physical memory where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _address_space_left() -> int | None:
    """What a limit on this process's address space (`ulimit -v`) leaves beyond what it maps already; None without
    a limit."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        mapped = 0
    return max(limit - mapped, 0)


def available_memory() -> int:
    """Bytes this process can still allocate: the available memory, lowered by an address-space limit."""
    left = _address_space_left()
    available = _meminfo_available()
    return available if left is None else min(available, left)


def check_memory(subject: str, needed: int, detail: str = "", available: int | None = None,
                 where: str = "this machine") -> None:
    """Stop with `SUBJECT needs about N GiB of memory[DETAIL]; WHERE has M GiB available` when `needed` exceeds
    `available` (by default the memory this process can take); `subject` names the option to change."""
    available = available_memory() if available is None else available
    if needed > available:
        raise FluidlossError(f"{subject} needs about {gib(needed)} of memory{detail}; {where} has {gib(available)} "
                             "available")


def free_disk(folder: Path) -> int:
    """Bytes free for this process on the file system holding `folder`."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def check_disk(subject: str, needed: int, folder: Path, detail: str = "") -> None:
    """Stop with `SUBJECT needs at least N GiB of disk[DETAIL]; FOLDER has M GiB free` when `needed` exceeds the free
    space of `folder` (an existing folder: the output's)."""
    free = free_disk(folder)
    if needed > free:
        raise FluidlossError(f"{subject} needs at least {gib(needed)} of disk{detail}; {folder} has {gib(free)} free")
