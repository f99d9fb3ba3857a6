"""The lock of a study cell: an exclusive claim by one process, safe on a shared file system.

The lock is a file created atomically (a hard link) with its owner inside: host, pid and, in a Slurm job, the job
id. A lock is taken over when its owner is gone: a process of this host that no longer exists, or a Slurm job the
scheduler no longer runs (ended, cancelled, requeued, its node dead), or an earlier run of this very job (a requeued
job runs once at a time).
"""

import json
import os
import socket
from pathlib import Path

from fluidloss_cli.engine.study import slurm
from fluidloss_cli.engine.study.files import read_json


class CellLock:
    """An exclusive claim on a cell by one process, as a file created atomically with its owner inside."""

    def __init__(self, out: Path, cell_id: str):
        self.path = cell_lock_path(out, cell_id)
        self.owner = {"host": socket.gethostname(), "pid": os.getpid()}
        if slurm.job_id():
            self.owner["job"] = slurm.job_id()

    def acquire(self) -> bool:
        """Take the lock; False while another live owner holds it. A lock of a gone owner is taken over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{socket.gethostname()}.{os.getpid()}")
        tmp.write_text(json.dumps(self.owner))
        try:
            for _ in range(2):
                try:
                    os.link(tmp, self.path)  # fails if the lock exists: atomic, and never an empty lock file
                    return True
                except FileExistsError:
                    if not self.stale():
                        return False
                    self.path.unlink(missing_ok=True)
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def stale(self) -> bool:
        """Whether the lock's owner is gone: its Slurm job is not running (the scheduler says so) or is this job,
        or it is a process of this host that no longer exists."""
        owner = read_json(self.path) or {}
        job = owner.get("job")
        if job:
            if job == self.owner.get("job"):
                return True  # left by an earlier run of this job, killed before it could release it
            state = slurm.job_state(str(job))
            if state is not None and state not in slurm.ACTIVE:
                return True
        if owner.get("host") != self.owner["host"]:
            return False
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError):
            return False
        return False

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def cell_lock_path(out: Path, cell_id: str) -> Path:
    """The lock file of a cell in the study folder `out`."""
    return out / "locks" / (cell_id.replace("/", "__") + ".lock")
