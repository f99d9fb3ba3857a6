"""The Slurm scheduler through its own commands: sbatch, squeue, scancel, scontrol. No scheduler of our own."""

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable

from fluidloss_cli.engine.errors import FluidlossError

ACTIVE = {"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
"""Job states in which a job's processes may be running."""
WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT"}
"""Job states of a job that will (or may, once released) run."""
STATE_TTL_S = 5.0
_asked: dict[str, tuple[float, str | None]] = {}
NEVER = "DependencyNeverSatisfied"
"""The pending reason of a job whose dependency failed: it will not run unless resubmitted."""


RESOURCE_FORMATS = {
    "time": (re.compile(r"(\d+-)?\d+(:\d{1,2}){0,2}|\d+-\d+|UNLIMITED|INFINITE", re.IGNORECASE),
             "a Slurm time limit: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS, DAYS-HOURS:MINUTES or "
             "DAYS-HOURS:MINUTES:SECONDS, e.g. 12:00:00"),
    "mem": (re.compile(r"\d+[KMGT]?", re.IGNORECASE), "a size in megabytes or with a unit K, M, G or T, e.g. 16G"),
    "partition": (re.compile(r"[\w.-]+(,[\w.-]+)*"), "a partition name (or a comma-separated list of them)"),
}
"""Job resources written into every batch script -> the form sbatch takes (its manual) and the words for an error."""


def check_resources(values: dict, name: Callable[[str], str]) -> None:
    """Refuse, before any script is written, a resource that sbatch would refuse in every job (`values`: time, mem,
    partition, sbatch_args, those given; `name`: a key's name in the error, its flag or config key): a time or memory
    of another form, an empty or blank sbatch argument, or one that is no option or spans lines."""
    for key, (form, wanted) in RESOURCE_FORMATS.items():
        value = values.get(key)
        if value is not None and not form.fullmatch(str(value)):
            raise FluidlossError(f"{name(key)} {value!r}: expected {wanted}")
    for arg in values.get("sbatch_args", ()):
        if not arg.strip().startswith("-") or "\n" in arg:
            raise FluidlossError(f"{name('sbatch_args')} {arg!r}: expected one sbatch option on one line, e.g. "
                                 "--account=abc")


def job_id() -> str | None:
    """The id of the Slurm job this process runs in, or None outside a job."""
    return os.environ.get("SLURM_JOB_ID") or None


def available() -> bool:
    return shutil.which("sbatch") is not None


def _call(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise FluidlossError(f"{args[0]} not found: Slurm's commands must be on the PATH") from None
    except subprocess.TimeoutExpired:
        raise FluidlossError(f"{' '.join(args[:2])} did not answer within 60 s") from None
    if check and done.returncode != 0:
        raise FluidlossError(f"{' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()}")
    return done


def sbatch(script: str, dependency: str | None = None) -> str:
    """Submit a batch script file (optionally with `--dependency`); the new job's id."""
    done = _call("sbatch", "--parsable", *([f"--dependency={dependency}"] if dependency else []), script)
    return done.stdout.strip().split(";")[0]


def states(ids: list[str]) -> dict[str, tuple[str, str]]:
    """Job id -> (state, pending reason) of the jobs the scheduler still knows (finished ones for MinJobAge);
    jobs it forgot are absent."""
    if not ids:
        return {}
    done = _call("squeue", "-h", "-t", "all", "-o", "%i|%T|%r", "-j", ",".join(ids), check=False)
    if done.returncode != 0 and "Invalid job id" not in done.stderr:
        raise FluidlossError(f"squeue failed: {done.stderr.strip()}")
    found = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    if done.returncode != 0 and len(ids) > 1:  # one forgotten id fails the whole query: ask one by one
        for single in ids:
            found.update(states([single]))
    return found


def job_state(job: str) -> str | None:
    """A job's state, "" when the scheduler no longer knows it, None when the scheduler cannot be asked; asked at
    most every STATE_TTL_S per job (a runner waiting for a lock asks ten times a second)."""
    asked, state = _asked.get(job, (0.0, None))
    if time.monotonic() - asked < STATE_TTL_S:
        return state
    state = None
    if available():
        try:
            state = states([job]).get(job, ("", ""))[0]
        except FluidlossError:
            pass
    _asked[job] = time.monotonic(), state
    return state


def scancel(ids: list[str]) -> None:
    if ids:
        _call("scancel", *ids)


def requeue(job: str) -> None:
    """Put a job back in the queue (it runs again under the same id)."""
    _call("scontrol", "requeue", job)


def job_name(text: str) -> str:
    """A job name or file name for a cell group: `train/sol/karman/mse/seed0` -> `train.sol.karman.mse.seed0`."""
    return re.sub(r"[^A-Za-z0-9_+.=-]", ".", text)
