"""`fluidloss study status`: where every cell of a study stands, whether it runs here (`study run`, in the
background or on another host sharing the folder) or as Slurm jobs (`study submit`).

A cell's state comes from its files (result.json, failed.json), its lock (a live owner runs it) and, for a submitted
study, its job's state in the scheduler. A running cell shows the last line of its log: a training cell's progress
(epoch, samples, elapsed time and ETA).
"""

from dataclasses import dataclass, field
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.study import slurm
from fluidloss_cli.engine.study.cell_lock import CellLock, cell_lock_path
from fluidloss_cli.engine.study.files import read_json
from fluidloss_cli.engine.study.layout import FAILED, LOG, PLAN, REPORT_FILE, cell_folder
from fluidloss_cli.engine.study.runner import result_of
from fluidloss_cli.engine.study.submit import JOBS, REPORT


@dataclass
class CellStatus:
    id: str
    state: str
    """done, skipped, running, queued, blocked (its job waits for a failed one), failed, cancelled, not submitted (a
    submitted study's cell that no job holds), not started (a study run here: its turn has not come)."""
    job: str = ""
    detail: str = ""
    log_tail: list[str] = field(default_factory=list)


def status(out: Path) -> tuple[list[CellStatus], tuple[str, str, str]]:
    """Every cell's state; and the report job (id, state, report file), empty where the study was not submitted."""
    plan = read_json(out / PLAN)
    if plan is None:
        raise FluidlossError(f"{out} holds no study ({PLAN} is missing): run `fluidloss study run` or "
                             "`fluidloss study submit` first")
    record = read_json(out / JOBS)
    submitted = record is not None
    record = record or {"jobs": {}}
    job_of = {cell: j["id"] for j in record["jobs"].values() for cell in j["cells"]}
    ids = [*job_of.values(), *([record[REPORT]] if record.get(REPORT) else [])]
    known = slurm.states(sorted(set(ids))) if ids else {}  # no squeue here: a one-line error, not "failed"
    found = []
    for cell in plan["cells"]:
        cell_id, folder = cell["id"], cell_folder(out, cell["id"])
        result, job = result_of(out, cell_id), job_of.get(cell_id, "")
        state, reason = known.get(job, ("", ""))
        if result is not None:
            found.append(CellStatus(cell_id, result["status"], job, result.get("reason", "")))
        elif state in slurm.ACTIVE:  # the scheduler has said its job runs: the lock names the cell it runs
            owner = read_json(cell_lock_path(out, cell_id)) or {}
            mine = str(owner.get("job", "")) == job
            found.append(CellStatus(cell_id, "running" if mine else "queued", job,
                                    f"on {owner.get('host')}: {progress(folder)}" if mine else
                                    "its job runs an earlier cell"))
        elif state in slurm.WAITING:
            found.append(CellStatus(cell_id, "blocked" if reason == slurm.NEVER else "queued", job, reason))
        elif (owner := live_owner(out, cell_id)) is not None:
            found.append(CellStatus(cell_id, "running", str(owner.get("job", "")),
                                    f"on {owner.get('host')} (pid {owner.get('pid')}): {progress(folder)}"))
        elif job or (folder / FAILED).exists():
            failed = read_json(folder / FAILED) or {}
            tail = failed.get("log_tail") or tail_of(folder / LOG)
            what = "cancelled" if state == "CANCELLED" else "failed"
            found.append(CellStatus(cell_id, what, job, f"job {state.lower() or 'gone'}" if job else "", tail[-10:]))
        else:
            found.append(CellStatus(cell_id, "not submitted" if submitted else "not started"))
    report = record.get(REPORT, "")
    return found, (report, known.get(report, ("", ""))[0].lower(), str(out / REPORT_FILE))


def live_owner(out: Path, cell_id: str) -> dict | None:
    """The owner (host, pid, Slurm job) of the cell's lock while it is alive; None for no lock or a gone owner."""
    lock = CellLock(out, cell_id)
    owner = read_json(lock.path)
    return None if owner is None or lock.stale() else owner


def progress(folder: Path) -> str:
    """The last line of a cell's log: a training cell's epoch, samples, elapsed time and ETA."""
    tail = tail_of(folder / LOG, 1)
    return tail[0] if tail else "starting"


def tail_of(log: Path, lines: int = 10) -> list[str]:
    return log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
