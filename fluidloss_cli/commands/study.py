"""`fluidloss study plan|run|report|export|status`: the whole comparison of losses from one config to one report, and
where its cells stand; `submit|cancel`: the same on a Slurm cluster (`cells`, hidden, is a submitted job's command)."""

from pathlib import Path

import typer
from rich.table import Table

from fluidloss_cli.commands.command_list import WorkflowGroup
from fluidloss_cli.commands.common import COUNT, check_ranges, console
from fluidloss_cli.commands.examples import examples
from fluidloss_cli.engine.errors import FluidlossError

app = typer.Typer(cls=WorkflowGroup, help="Run a whole study of losses from one TOML config: plan its cells, run them (resumable, "
                       "parallel, sharded, or as Slurm jobs), report.", no_args_is_help=True, rich_markup_mode=None)

ConfigArgument = typer.Argument(..., help="Study config (TOML; see docs/study.md and sample_configs/study_*.toml).",
                                dir_okay=False)
WorkersOption = typer.Option(1, "--workers", help="Cells run in parallel processes (CPU threads are divided among them).")


def minutes(seconds: float) -> str:
    """A duration as people read it: seconds, minutes, or hours beyond two of them."""
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def say(cell_id: str, what: str) -> None:
    """One line per cell event."""
    console.print(f"{cell_id}: {what}", highlight=False, soft_wrap=True)


def check_device(config: Path, device: str) -> None:
    """Refuse, before any cell runs, a config whose `device` this machine does not have."""
    from fluidloss_cli.engine.device import resolve_device

    try:
        resolve_device(device)
    except FluidlossError as exc:
        reason = str(exc).split(": ", 1)[-1].split(" (use --device")[0]
        raise FluidlossError(f"{config}: device = {device!r}: {reason}; set device to \"cpu\" or \"auto\" in the "
                             "config") from None


def check_study_folder(folder: Path) -> None:
    """Refuse a `--from` folder that holds no finished cell to measure (no cells/*/result.json with its wall time)."""
    from fluidloss_cli.engine.study.estimate import finished_results

    if not folder.is_dir():
        raise FluidlossError(f"--from {folder}: no such folder; give the --out of a `fluidloss study run`")
    if not finished_results(folder):
        raise FluidlossError(f"--from {folder}: holds no finished cell to measure (no cells/*/result.json with a "
                             "wall time); give the --out of a `fluidloss study run` with some cells run, or leave "
                             "--from out to measure with a miniature of the study")


def load(config: Path):
    """The checked config, with its warnings printed, and its cells."""
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import read_config

    study = read_config(config)
    for warning in study.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return study, plan_cells(study)


@app.command("plan", epilog=examples("study plan"))
def plan(
    config: Path = ConfigArgument,
    workers: int = WorkersOption,
    calibrate: Path = typer.Option(None, "--from", help="Take the throughput from the finished cells of this study "
                                   "folder instead of a probe run.", file_okay=False),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Measure throughput with a miniature of the study "
                               "(a few minutes) when --from is not given; --no-probe lists the cells only."),
) -> None:
    """Print the study's cells and a time estimate from measured throughput."""
    from fluidloss_cli.engine.study import estimate
    from fluidloss_cli.engine.study.runner import missing_weights

    check_ranges(("--workers", workers, COUNT))
    if calibrate is not None:
        check_study_folder(calibrate)
    study, cells = load(config)
    if calibrate is None and probe:
        check_device(config, study.device)
    rates = None
    if calibrate is not None:
        rates = estimate.measured(calibrate, f"the finished cells of {calibrate}", {c.id: c for c in cells})
    elif probe:
        console.print("measuring throughput with a miniature of the study ...", highlight=False)
        rates = estimate.probe(study, workers, lambda cell_id, what: say(f"probe {cell_id}", what))
    table = Table(title=f"study {study.name}: {len(cells)} cells")
    for column in ("cell", "kind", "needs", "estimate"):
        table.add_column(column, overflow="fold")
    seconds, unmeasured = {}, 0
    for cell in cells:
        text = "—"
        if cell.kind == "train" and missing_weights(cell.loss):
            text, seconds[cell.id] = "skipped: weights missing", 0.0
        elif rates is not None:
            value = rates.seconds(cell)
            seconds[cell.id] = value or 0.0
            unmeasured += value is None
            text = "not measured" if value is None else minutes(value)
        table.add_row(cell.id, cell.kind, ", ".join(cell.deps) or "—", text)
    console.print(table)
    if rates is not None:
        console.print(estimate_line(rates, cells, seconds, unmeasured, workers), highlight=False, soft_wrap=True)


def estimate_line(rates, cells: list, seconds: dict[str, float], unmeasured: int, workers: int) -> str:
    """The study's estimate from `rates` (seconds: its cells' estimates, 0 where not measured or skipped);
    "no estimate" where none was measured, and the number of cells left out where some were not."""
    from fluidloss_cli.engine.study import estimate

    if not any(seconds.values()):  # every cell not measured (or skipped)
        return (f"no estimate: none of the study's cells is like a cell measured in {rates.source} (same kind, "
                "task, scene and loss cost); give a folder of this study with --from, or leave --from out to "
                "measure with a miniature of the study")
    left_out = f" ({unmeasured} cell(s) not measured, not counted: more than this)" if unmeasured else ""
    return (f"estimate from {rates.source} (start-up {rates.startup:.1f} s per cell): "
            f"{minutes(sum(seconds.values()))} of cell time, about "
            f"[bold]{minutes(estimate.schedule(cells, seconds, workers))}[/] on {workers} worker(s){left_out}")


@app.command("run", epilog=examples("study run"))
def run(
    config: Path = ConfigArgument,
    out: Path = typer.Option(..., "--out", help="Study folder: cells/, plan.json, report.md, figures/.", file_okay=False),
    workers: int = WorkersOption,
    shard: str = typer.Option(None, "--shard", help="I/N: run only shard I of N (a deterministic share of the "
                              "models, with the data they need); then `fluidloss study report OUT`."),
    gpus: str = typer.Option(None, "--gpus", help="Comma-separated GPU indices the workers take in turn (CUDA)."),
    first_models: list[str] = typer.Option(None, "--first", metavar="<glob>", help="Run these models (task/scene/loss/seed globs, e.g. "
                                           "'sol/karman_a/mse/*'; repeatable) and the data they need before the "
                                           "others, which still run after them."),
) -> None:
    """Run the cells of the study that are not finished (resuming any interrupted run), then write the report."""
    from fluidloss_cli.engine.outputs import check_output_dir
    from fluidloss_cli.engine.study.report import write_report
    from fluidloss_cli.engine.study.runner import Runner, write_plan
    from fluidloss_cli.engine.study.shard import first, parse_shard, shard_cells

    check_ranges(("--workers", workers, COUNT))
    part = parse_shard(shard) if shard else None
    check_output_dir(out)  # every file of the study goes under it
    study, cells = load(config)
    check_device(config, study.device)
    by_id = {cell.id: cell for cell in cells}
    chosen = shard_cells(by_id, *part) if part else list(by_id)
    chosen = first(by_id, chosen, first_models) if first_models else chosen
    write_plan(out, study, config.read_text(), cells)
    runner = Runner(out, by_id, study.device, workers, [g.strip() for g in gpus.split(",")] if gpus else [], say)
    done = runner.run(chosen)
    console.print(f"{len(done.ran)} cell(s) ran, {len(done.skipped)} skipped, {len(done.reused)} were finished "
                  f"before, {len(done.failed)} failed, {len(done.blocked)} blocked by a failure",
                  highlight=False, soft_wrap=True)
    if part:
        console.print(f"shard {shard} done; after every shard: fluidloss study report {out}", highlight=False)
    else:
        files = write_report(out)
        console.print(f"wrote {files[0]}", highlight=False)
    if done.failed:
        raise FluidlossError(f"{len(done.failed)} cell(s) failed, see their log.txt: {', '.join(done.failed)}")


@app.command("report", epilog=examples("study report"))
def report(study: Path = typer.Argument(..., help="Study folder (every shard's results in it).", file_okay=False)) -> None:
    """Merge the per-cell results of a study folder (all shards) into report.md, report.json and figures/."""
    from fluidloss_cli.engine.outputs import check_output_dir
    from fluidloss_cli.engine.study.report import write_report

    check_output_dir(study)
    files = write_report(study)
    console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False, soft_wrap=True)


@app.command("export", epilog=examples("study export"))
def export(
    study: Path = typer.Argument(..., help="Study folder to export.", file_okay=False),
    destination: Path = typer.Argument(..., help="Folder to write the export into (its files are replaced).",
                                       file_okay=False),
    checkpoints: list[str] = typer.Option([], "--checkpoints", metavar="<glob>", help="TASK/SCENE/LOSS/seedK glob of training cells "
                                          "whose best model to publish, slim, as checkpoints/*.pt (repeatable), e.g. "
                                          "'sol/karman_a/mse/*'."),
) -> None:
    """Copy a study's results without its data or training checkpoints (to publish or move it); still a study
    folder: `study report` rewrites it, `study run` regenerates the data and runs only the cells it lacks."""
    from fluidloss_cli.engine.outputs import check_output_dir, claim_folder
    from fluidloss_cli.engine.study.export import check_export
    from fluidloss_cli.engine.study.export import export as export_study

    check_output_dir(destination)
    check_export(study, destination, checkpoints)  # before the lock beside `destination`, its first file
    with claim_folder(destination):  # one export writes `destination` at a time; it checks again under the lock
        files = export_study(study, destination, checkpoints)
    console.print(f"exported {len(files)} file(s) to {destination}", highlight=False, soft_wrap=True)


@app.command("submit", epilog=examples("study submit"))
def submit(
    config: Path = ConfigArgument,
    out: Path = typer.Option(..., "--out", help="Study folder on a file system every node shares.", file_okay=False),
    partition: str = typer.Option(None, "--partition", help="Slurm partition (default: config [slurm], else the "
                                  "cluster's default)."),
    time_limit: str = typer.Option(None, "--time", help="Time limit per job, e.g. 12:00:00 (a training job that "
                                   "reaches it continues in a new job from its last epoch)."),
    cpus: int = typer.Option(None, "--cpus-per-task", help="CPUs per job (default: config [slurm], else 1); the "
                             "commands use that many threads."),
    gpus: int = typer.Option(None, "--gpus-per-task", help="GPUs per model job (default: config [slurm], else 1, "
                             "or 0 for a study on the CPU); data jobs ask for none."),
    mem: str = typer.Option(None, "--mem", help="Memory per job, e.g. 16G."),
    sbatch_args: list[str] = typer.Option(None, "--sbatch-arg", metavar="<str>", help="An extra sbatch argument for every job, e.g. "
                                          "--sbatch-arg=--account=abc (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the job scripts and their dependencies; submit "
                                 "nothing, write nothing."),
) -> None:
    """Submit the study's unfinished cells to Slurm: a job per data set and per model, each after the jobs whose
    results it needs, and a last job that writes the report."""
    from fluidloss_cli.engine.study.config import read_config
    from fluidloss_cli.engine.study.submit import resources, submit as submit_jobs

    res = resources(read_config(config), partition=partition, time=time_limit, cpus_per_task=cpus,
                    gpus_per_task=gpus, mem=mem, sbatch_args=tuple(sbatch_args or ()))
    jobs = submit_jobs(config, out, res, dry_run, say)
    if dry_run:
        for job in jobs:
            kind = "afterany" if job.name == "report" else "afterok"
            after = f"--dependency={kind}:" + ":".join(f"<{d}>" for d in job.deps) if job.deps else "no dependency"
            typer.echo(f"# job <{job.name}>: sbatch {after}\n{job.script}")
        return
    console.print(f"{len(jobs) - 1} job(s) submitted, the report as job {jobs[-1].id}; watch them with: "
                  f"fluidloss study status {out}", highlight=False, soft_wrap=True)


@app.command("status", epilog=examples("study status"))
def status(study: Path = typer.Argument(..., help="Study folder of `study run` or `study submit`.", file_okay=False),
           every: bool = typer.Option(False, "--all", help="List finished cells too.")) -> None:
    """The study's cells: done, running (where, and its progress), queued, blocked and failed (with the end of its
    log), for a study that runs here (`study run`) or as Slurm jobs (`study submit`)."""
    from collections import Counter

    from fluidloss_cli.engine.study.status import status as cell_status

    cells, (report, state, path) = cell_status(study)
    table = Table(title=f"{study}: {len(cells)} cells")
    for column in ("cell", "state", "job", "detail"):
        table.add_column(column, overflow="fold")
    for cell in cells:
        if every or cell.state not in ("done", "skipped"):
            table.add_row(cell.id, cell.state, cell.job, cell.detail)
    console.print(table)
    counts = Counter(cell.state for cell in cells)
    console.print(", ".join(f"{n} {state}" for state, n in counts.items()) +
                  (f"; report job {report} {state or 'gone'}" if report else ""), highlight=False, soft_wrap=True)
    left = [cell.id for cell in cells if cell.state not in ("done", "skipped", "failed", "cancelled")]
    if left:
        console.print(time_left(study, left, max(counts["running"], 1)), highlight=False, soft_wrap=True)
    for cell in cells:
        if cell.log_tail:
            console.print(f"--- {cell.id} ({cell.state}), last lines of its log:\n" + "\n".join(cell.log_tail),
                          highlight=False, soft_wrap=True, markup=False)


def time_left(study: Path, left: list[str], workers: int) -> str:
    """The estimate of the cells `left` (whole, running ones too) from the study's own finished cells, on as many
    workers as run now."""
    from fluidloss_cli.engine.study.estimate import left_to_run

    rates, cells, seconds, unmeasured = left_to_run(study, left)
    return f"left: {len(cells)} cell(s); " + estimate_line(rates, cells, seconds, unmeasured, workers)


@app.command("cancel", epilog=examples("study cancel"))
def cancel(study: Path = typer.Argument(..., help="Study folder of `study submit`.", file_okay=False)) -> None:
    """Cancel the study's jobs that run or wait (finished cells stay; `study submit` again resumes)."""
    from fluidloss_cli.engine.study.submit import cancel as cancel_jobs

    ids = cancel_jobs(study)
    console.print(f"cancelled {len(ids)} job(s){': ' + ' '.join(ids) if ids else ''}", highlight=False, soft_wrap=True)


@app.command("cells", hidden=True)
def cells(study: Path = typer.Argument(..., file_okay=False), ids: list[str] = typer.Argument(...)) -> None:
    """Run some cells of a study folder (their inputs finished): the command of a `study submit` job."""
    import sys

    from fluidloss_cli.engine.errors import FluidlossError
    from fluidloss_cli.engine.study.job import Stopped, run_cells

    try:
        done = run_cells(study, ids, say)
    except Stopped as stop:
        console.print(f"stopped by {stop}: the unfinished cells continue when the job runs again", highlight=False)
        sys.exit(128 + stop.signum)
    if done.failed or done.blocked:
        raise FluidlossError(f"{len(done.failed)} cell(s) failed, {len(done.blocked)} blocked: "
                             f"{', '.join(done.failed + done.blocked)}")
