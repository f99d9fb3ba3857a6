"""`fluidloss study submit | cancel`: a study as Slurm jobs, ordered by the scheduler's job dependencies.

One job per group of cells: a scene's training or test data (generate, then downsample), and a model (its training,
evaluation and, for the rendered model, the render). A job waits (`--dependency=afterok:`) for the jobs of the cells
its cells need, and runs `fluidloss study cells OUT ID...` (engine/study/job.py: the study's runner on one worker,
the cell locks and result files of `study run`). A last job writes the report once all others ended (`afterany`).
The job ids go to `OUT/jobs.json`, the scripts to `OUT/slurm/` beside the jobs' output. Submitting the same folder
again submits only the groups with unfinished cells that have no live job, so a failed or cancelled part is
resubmitted with the same command.
"""

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.outputs import check_output_dir
from fluidloss_cli.engine.study import slurm
from fluidloss_cli.engine.study.cells import Cell, plan_cells
from fluidloss_cli.engine.study.config import StudyConfig, read_config
from fluidloss_cli.engine.study.files import read_json, write_json, write_text
from fluidloss_cli.engine.study.runner import check_plan, now, result_of, skip_reason, write_plan, write_result

JOBS, SCRIPTS, REPORT = "jobs.json", "slurm", "report"


@dataclass(frozen=True)
class Resources:
    """What every job asks for (GPUs only for the jobs of models), and sbatch arguments of the user's own."""

    partition: str | None = None
    time: str | None = None
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    mem: str | None = None
    sbatch_args: tuple[str, ...] = ()
    requeue_before_s: int = 120
    """SIGUSR1 this long before the time limit: the job requeues itself (0: no signal)."""

    def directives(self, gpu: bool) -> list[str]:
        options = ["--ntasks=1", f"--cpus-per-task={self.cpus_per_task}"]
        options += [f"--partition={self.partition}"] * bool(self.partition) + [f"--time={self.time}"] * bool(self.time)
        options += [f"--mem={self.mem}"] * bool(self.mem)
        options += [f"--gpus-per-task={self.gpus_per_task}"] * (gpu and self.gpus_per_task > 0)
        return options + list(self.sbatch_args)


def resources(config: StudyConfig, **given) -> Resources:
    """The config's `[slurm]` defaults with the options given (None: not given), each checked
    (`slurm.check_resources`); GPUs by default 1 per model job unless the study runs on the CPU."""
    given = {key: value for key, value in given.items() if value not in (None, ())}
    slurm.check_resources(given, lambda key: "--sbatch-arg" if key == "sbatch_args" else f"--{key.replace('_', '-')}")
    chosen = {"gpus_per_task": 0 if config.device == "cpu" else 1, **config.slurm, **given}
    chosen["sbatch_args"] = tuple(chosen.get("sbatch_args", ()))
    if chosen.get("cpus_per_task", 1) < 1 or chosen["gpus_per_task"] < 0:
        raise FluidlossError("--cpus-per-task must be at least 1 and --gpus-per-task at least 0")
    return Resources(**chosen)


def group_of(cell: Cell) -> str:
    """The job a cell runs in: its model's (training, evaluation, render), or its data set's (fine, then coarse)."""
    return cell.group or cell.id.rsplit("-", 1)[0]


@dataclass
class Job:
    name: str
    cells: list[str]
    deps: list[str] = field(default_factory=list)
    """Names of the jobs it waits for."""
    script: str = ""
    id: str = ""


def script(out: Path, study: str, name: str, command: list[str], options: list[str]) -> str:
    """A batch script: the directives, then `exec` of the command (so the job's signals reach it)."""
    base = slurm.job_name(name)
    head = [f"--job-name={study}:{base}", f"--chdir={out}", f"--output={out / SCRIPTS / base}.%j.out",
            "--open-mode=append", *options]
    return "\n".join(["#!/bin/bash", *(f"#SBATCH {shlex.quote(o)}" for o in head), "",
                      f"exec {shlex.join([sys.executable, '-m', 'fluidloss_cli', *command])}", ""])


def settle_skips(out: Path, cells: list[Cell]) -> None:
    """Record now the cells that would be skipped (a loss whose weights are missing here, and what needs its model),
    so no job starts only to skip them; the jobs inherit this environment, weights folder included."""
    status = {}
    for cell in cells:
        found = result_of(out, cell.id)
        if found is None and (skip := skip_reason(out, cell, status)) is not None:
            write_result(out, cell, "skipped", **skip)
            found = {"status": "skipped"}
        status[cell.id] = found["status"] if found else "pending"


def live(known: dict[str, tuple[str, str]], job: str) -> bool:
    """Whether a job runs or will run (not one whose dependency failed)."""
    state, reason = known.get(job, ("", ""))
    return state in slurm.ACTIVE or (state in slurm.WAITING and reason != slurm.NEVER)


def submit(config_path: Path, out: Path, res: Resources, dry_run: bool, say) -> list[Job]:
    """Submit the unfinished groups of a study (or, dry, only describe them); the jobs, the report's last. Refuses,
    before writing anything into `out`, a folder that cannot be written or holds another config's study (a dry run
    too), and a machine without `sbatch`."""
    check_output_dir(out)
    config, out = read_config(config_path), out.resolve()
    check_plan(out, config)
    if not dry_run and not slurm.available():
        raise FluidlossError("sbatch is not on the PATH: submit from a machine with Slurm's commands (a login node), "
                             "or see the jobs with --dry-run; nothing was written")
    cells = plan_cells(config)
    by_id = {cell.id: cell for cell in cells}
    if not dry_run:
        write_plan(out, config, config_path.read_text(), cells)
        settle_skips(out, cells)
    record = read_json(out / JOBS) or {"jobs": {}}
    recorded = [j["id"] for j in record["jobs"].values()] + ([record[REPORT]] if record.get(REPORT) else [])
    known = slurm.states(recorded) if recorded and slurm.available() else {}
    groups: dict[str, list[str]] = {}
    for cell in cells:
        groups.setdefault(group_of(cell), []).append(cell.id)
    jobs, ids = [], {}
    for name, members in groups.items():
        unfinished = [c for c in members if result_of(out, c) is None]
        if not unfinished:
            continue
        earlier = record["jobs"].get(name, {}).get("id")
        if earlier and live(known, earlier):
            ids[name] = earlier
            say(name, f"job {earlier} is {known[earlier][0].lower()}: kept")
            continue
        if earlier and not dry_run and known.get(earlier, ("",))[0] in slurm.WAITING:
            slurm.scancel([earlier])  # waits for a dependency that failed: replaced by a new job
        deps = sorted(({group_of(by_id[d]) for c in unfinished for d in by_id[c].deps} - {name}) & set(ids))
        options = ["--requeue", *res.directives(any(by_id[c].uses_device for c in members))]
        options += [f"--signal=B:USR1@{res.requeue_before_s}"] * (res.requeue_before_s > 0)
        job = Job(name, members, deps, script(out, config.name, name, ["study", "cells", str(out), *members], options))
        jobs.append(submit_job(out, job, [ids[d] for d in deps], "afterok", record, dry_run))
        ids[name] = job.id
        say(name, f"{'would be ' * dry_run}submitted as job {job.id}" + (f" after {', '.join(deps)}" if deps else ""))
    earlier = record.get(REPORT)
    if earlier and not dry_run and live(known, earlier):
        slurm.scancel([earlier])  # it would report before the new jobs end
    report = Job(REPORT, [], list(ids), script(out, config.name, REPORT, ["study", "report", str(out)],
                                                res.directives(False)))
    jobs.append(submit_job(out, report, list(ids.values()), "afterany", record, dry_run))
    return jobs


def submit_job(out: Path, job: Job, after: list[str], kind: str, record: dict, dry_run: bool) -> Job:
    """sbatch one job (recorded in jobs.json at once, so an error later loses no job id); dry: a placeholder id."""
    dependency = f"{kind}:{':'.join(after)}" if after else None
    if dry_run:
        job.id = f"<{job.name}>"
        return job
    path = out / SCRIPTS / f"{slurm.job_name(job.name)}.sh"
    write_text(path, job.script)
    job.id = slurm.sbatch(str(path), dependency)
    if job.name == REPORT:
        record[REPORT] = job.id
    else:
        record["jobs"][job.name] = {"id": job.id, "cells": job.cells, "after": job.deps, "submitted": now()}
    write_json(out / JOBS, record)
    return job


def cancel(out: Path) -> list[str]:
    """Cancel the study's jobs that run or wait; their ids."""
    record = read_json(out / JOBS)
    if record is None:
        raise FluidlossError(f"{out} has no submitted jobs ({JOBS} is missing)")
    ids = sorted({j["id"] for j in record["jobs"].values()} | ({record[REPORT]} if record.get(REPORT) else set()))
    known = slurm.states(ids)
    chosen = [job for job in ids if known.get(job, ("",))[0] in slurm.ACTIVE | slurm.WAITING]
    slurm.scancel(chosen)
    return chosen
