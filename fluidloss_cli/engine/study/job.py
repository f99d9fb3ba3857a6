"""One Slurm job of a study (`fluidloss study cells OUT ID...`): the cells of one group run by the study's runner,
as `study run` runs them (the cell lock, the cell's log, result.json last), on one worker.

Stopping: SIGTERM (preemption, `scancel`, `scontrol requeue`, the time limit's warning to every process) ends the
job cleanly: the command stops, the lock is released, no result is written, and the exit status is 143; when the
scheduler runs the job again, a training cell continues from its last epoch's checkpoint to the result of an
uninterrupted run. SIGUSR1 (`sbatch --signal=B:USR1@SECONDS`, which `study submit` asks for) comes before the time
limit: when a training cell saved an epoch in this job, the job requeues itself, so it continues in a new
allocation instead of ending as timed out, and the jobs that depend on it keep waiting for it; other cells would
start over, so the job runs on (it may finish in time; else it times out, and `study submit` resubmits it).
"""

import signal
import time
from collections.abc import Callable
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.study import slurm
from fluidloss_cli.engine.study.cells import Cell
from fluidloss_cli.engine.study.files import read_json
from fluidloss_cli.engine.study.layout import PLAN
from fluidloss_cli.engine.study.runner import Outcome, Runner, checkpoint


class Stopped(BaseException):
    """The scheduler stopped the job (a signal); the cells it ran stay unfinished."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, _frame) -> None:
    for other in (signal.SIGTERM, signal.SIGUSR1):  # the scheduler's next signals must not cut the clean-up short
        signal.signal(other, signal.SIG_IGN)
    raise Stopped(signum)


def run_cells(out: Path, ids: list[str], on_event: Callable[[str, str], None]) -> Outcome:
    """Run the given cells of the study folder `out` (their dependencies outside `ids` finished before) on one
    worker; raise Stopped when the scheduler stops the job. The cells come from `plan.json`, and cells skipped for
    missing weights were recorded at submission: this process loads no torch (the worker does)."""
    plan = read_json(out / PLAN)
    if plan is None:
        raise FluidlossError(f"{out} holds no study ({PLAN} is missing)")
    cells = {c["id"]: Cell(**{**c, "args": tuple(c["args"]), "deps": tuple(c["deps"])}) for c in plan["cells"]}
    unknown = [cell_id for cell_id in ids if cell_id not in cells]
    if unknown:
        raise FluidlossError(f"{out} has no cell(s) {', '.join(unknown)}")
    chosen = [cell_id for cell_id in cells if cell_id in ids]
    runner, started = Runner(out, cells, plan["device"], 1, [], on_event, check_weights=False), time.time()

    def requeue(signum: int, _frame) -> None:
        """Before the time limit: requeue the job if a training cell saved an epoch in it (else it would start over
        as far as it got, maybe forever), and stop; otherwise let it run on, it may still finish in time."""
        if not any(r.cell.kind == "train" and (c := checkpoint(out, r.cell.id)).exists() and c.stat().st_mtime > started
                   for r in runner.running.values()):
            on_event("job", "near its time limit with nothing to continue from: not requeued")
            return
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        job = slurm.job_id()
        if job:
            slurm.requeue(job)  # the scheduler then sends SIGTERM, which this process is already answering
        raise Stopped(signum)

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGUSR1, requeue)
    try:
        return runner.run(chosen)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
