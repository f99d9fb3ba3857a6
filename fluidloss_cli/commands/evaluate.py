"""`fluidloss evaluate rollout|frames|pair`: checkpoints against test data per rollout step or per test frame, or one
metric of two inputs."""

from pathlib import Path

import typer
from rich.table import Table

from fluidloss_cli.commands.command_list import WorkflowGroup
from fluidloss_cli.commands.common import (
    COUNT,
    INDEX,
    START,
    ConfigOption,
    DeviceOption,
    NetworkAmpOption,
    SolverOption,
    Unwrapped,
    check_amp,
    check_inputs,
    check_ranges,
    complete_metrics,
    console,
    progress_bar,
)
from fluidloss_cli.commands.examples import examples
from fluidloss_cli.engine.defaults import DEFAULT_METRICS, names
from fluidloss_cli.engine.metric_facts import MEASURES
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.loss_names import parse_metrics
from fluidloss_cli.engine.outputs import check_output_dir, claim_folder

SUMMARIES = ("mean", "final")
WORSE = "*"
"""The mark of a row less accurate than its grid's baseline (the uncorrected coarse solver)."""
MEASURE_NAMES = names(MEASURES)

app = typer.Typer(cls=WorkflowGroup, help="Evaluate checkpoints on test data (rollout: SOL; frames: SR and AE), or compare two frames or images (pair).",
                  no_args_is_help=True, rich_markup_mode=None)


def print_table(report: dict, grid: str, summary: str) -> None:
    """One rich table of a grid: a row per baseline/checkpoint, a column per metric, mean ± std over simulations."""
    from fluidloss_cli.engine.evaluation import rollouts_report as reports

    info = report["grids"][grid]["dataset"]
    steps, starts = report["steps"], ", ".join(map(str, report["starts"]))
    title = (f"{grid} grid ({info['scene']} {'x'.join(map(str, info['resolution']))}): mean ± std over "
             f"{len(report['simulations'])} test simulation(s), {reports.SUMMARIES[summary]} "
             f"(steps 1..{steps} from frame {starts})")
    table = Table()
    table.add_column("row", overflow="fold")
    for metric in report["metrics"]:
        table.add_column(metric, justify="right", overflow="fold")
    judge, worse = reports.worse_than_baseline(report, grid, summary)
    for row, *cells in reports.table(report, grid, summary):
        table.add_row(f"{row} {WORSE}" if row in worse else row, *cells)
    print_result(title, table)
    if worse:
        print_result(f"{WORSE} worse than {reports.baseline_row(grid)} (the uncorrected coarse solver) on {judge}: "
                     "the correction made the rollout less accurate")


def print_result(title: str, table: Table | None = None) -> None:
    """A result table and its title (or a note alone) on stdout (messages and progress go to stderr); a file or pipe
    gets the whole table, never cut to 80 columns."""
    stdout = Unwrapped()
    stdout.print(title, highlight=False, soft_wrap=True)
    if table is not None:
        stdout.print(table)


def print_against_mse(report: dict) -> None:
    """Per task: each loss's verdict against MSE on every metric with a better direction (the decision rule)."""
    from fluidloss_cli.engine.verdicts import LEVEL, Verdict

    for task, judged in report["against_mse"].items():
        if "why" in judged:
            print_result(f"{task} against mse: {judged['why']}")
            continue
        metrics = list(judged["verdicts"])
        losses = list(dict.fromkeys(loss for verdicts in judged["verdicts"].values() for loss in verdicts))
        table = Table()
        table.add_column("loss", overflow="fold")
        for metric in metrics:
            table.add_column(metric, overflow="fold")
        for loss in losses:
            table.add_row(loss, *(Verdict.from_json(judged["verdicts"][m][loss]).text() if loss in judged["verdicts"][m]
                                  else "—" for m in metrics))
        print_result(f"{task}: each loss against mse by the decision rule (docs/study.md: model means over the test "
                     f"simulations, paired t-test over seeds, Holm-adjusted, level {LEVEL})", table)


def print_novelty(found: dict) -> None:
    """The table of how far each test simulation lies from the training data."""
    from fluidloss_cli.engine.data import novelty

    table = Table()
    for name in novelty.HEADER:
        table.add_column(name, justify="left" if name == novelty.HEADER[0] else "right", overflow="fold")
    for cells in novelty.rows(found["simulations"]):
        table.add_row(*cells)
    print_result(f"test vs training data ({found['train']}): {novelty.ABOUT}", table)


def print_missing(report: dict) -> None:
    """Say why each missing column is missing."""
    for metric, about in report["metrics"].items():
        if about["missing"]:
            console.print(f"[bold]{metric}[/] missing: {about['missing']}", highlight=False, soft_wrap=True)


@app.command("rollout", epilog=examples("evaluate rollout"))
def rollout(
    data: Path = typer.Option(..., "--data", help="Coarse test dataset: the reference of the coarse rows (a fine test set made coarse by `fluidloss downsample`).", dir_okay=False),
    sol: list[Path] = typer.Option(None, "--sol", metavar="<file>", help="SOL checkpoint to evaluate; repeat the flag for several (e.g. one run each trained with mse, lsim, vgg, lpips). A row is named after the run directory of best.pt/last.pt, else the file.", dir_okay=False),
    fine: Path = typer.Option(None, "--fine", help="Fine test dataset of the same simulations (2x or 4x finer): adds fine rows, every coarse row upsampled bicubically and by each --sr.", dir_okay=False),
    sr: list[Path] = typer.Option(None, "--sr", metavar="<file>", help="SR checkpoint to evaluate on the fine grid (needs --fine); repeatable.", dir_okay=False),
    start: list[int] = typer.Option([START], "--start", metavar="<int>", help="Frame the rollouts start from (as benchmark's and simulate's --start); repeat for several (a simulation's values are then the mean over its start frames)."),
    steps: int = typer.Option(None, "--steps", help="Rollout steps (default: as many as the reference holds after the last --start)."),
    metrics: str = typer.Option(DEFAULT_METRICS, "--metrics", show_default=DEFAULT_METRICS.replace(",", ", "), autocompletion=complete_metrics, help=f"Comma-separated metric columns: registry losses (mse, mae, lsim, lpips, vgg, ..., see docs/losses.md) and physical measures ({MEASURE_NAMES}). A loss whose weights are missing becomes a column marked missing."),
    summary: str = typer.Option("mean", "--summary", help="What the table shows: mean (each metric averaged over the steps) or final (at the last step); the files hold both and every step."),
    train: Path = typer.Option(None, "--train", help="Training dataset on the grid of --data (the coarse data the SOL models learnt from): adds a table of how far each test simulation lies from it (nearest training trajectory and frame) next to its uncorrected coarse error; written to novelty.csv too.", dir_okay=False),
    train_stride: int = typer.Option(None, "--train-stride", help="With --train: search the nearest training frame for every STRIDE-th test frame (default: about 100 frames per test simulation)."),
    out: Path = typer.Option(..., "--out", help="Folder for evaluation.json, summary.csv, steps.csv, errors_GRID.png, spectra_GRID.png (and novelty.csv with --train).", file_okay=False),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an evaluation that --out already holds."),
    device: str = DeviceOption,
    solver: str = SolverOption,
    amp: str = NetworkAmpOption,
    config: Path = ConfigOption,
) -> None:
    """Roll out the uncorrected coarse solver and each SOL checkpoint (and, with --fine, bicubic and each SR on top)
    from the test frames; report every metric per checkpoint and step, mean ± std over the test simulations."""
    if summary not in SUMMARIES:
        raise FluidlossError(f"--summary must be one of {', '.join(SUMMARIES)}, got {summary!r}")
    if train_stride is not None and train is None:
        raise FluidlossError("--train-stride needs --train: the training dataset the test data is compared with")
    check_ranges(("--start", start, INDEX), ("--steps", steps, COUNT), ("--train-stride", train_stride, COUNT))
    check_amp(amp)
    parse_metrics(metrics)  # names known before torch and the data load
    check_output_dir(out)
    check_inputs([data, fine, train], [*(sol or []), *(sr or [])])
    from fluidloss_cli.engine.data.novelty import novelty
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.evaluation import rollouts_report as reports
    from fluidloss_cli.engine.evaluation import rollouts
    from fluidloss_cli.engine.evaluation.plots import write_plots

    evaluation = rollouts.prepare(data, sol or [], fine, sr or [], start, steps, metrics, resolve_device(device),
                                  solver, amp)
    distances = novelty(data, train, train_stride) if train else None
    with claim_folder(out, lambda: reports.check_out(out, overwrite)):  # one run writes `out` at a time
        announce_cost(evaluation.metrics)
        with progress_bar() as bar:
            task = bar.add_task("rollouts", total=len(start) * len(evaluation.corrections), unit="rollouts")
            results = rollouts.run(evaluation,
                                   lambda label: bar.update(task, advance=1, description=f"rolled out {label}"))
        report = reports.document(evaluation, results, train, distances)
        files = reports.write_tables(report, out) + write_plots(report, out)
        files.insert(0, reports.write_report(report, out))  # last: it marks the evaluation finished
    for grid in report["grids"]:
        print_table(report, grid, summary)
    print_against_mse(report)
    if "novelty" in report:
        print_novelty(report["novelty"])
    print_missing(report)
    console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False, soft_wrap=True)


def announce_cost(metrics: list) -> None:
    """One line before the work when an expensive metric (LSiM, LPIPS) is among the computed `metrics` columns: what
    it costs and the `--metrics` without it."""
    from fluidloss_cli.engine.loss_names import cost_notice

    notice = cost_notice([m.name for m in metrics], [m.name for m in metrics if m.compute is not None])
    if notice:
        console.print(notice, highlight=False, markup=False, soft_wrap=True)


def print_frames_table(report: dict) -> None:
    """One rich table of a frame evaluation: a row per baseline/checkpoint, a column per metric."""
    from fluidloss_cli.engine.evaluation import frames_report

    sims = len(report["simulations"])
    title = (f"test frames {report['start']}, {report['start'] + report['stride']}, ... of {sims} test simulation(s): "
             f"mean over the frames ± std over the simulations' means (sims) and over all frames (frames)")
    table = Table()
    for name in ("row", "grid", "compression"):
        table.add_column(name, overflow="fold")
    for metric in report["metrics"]:
        table.add_column(metric, justify="right", overflow="fold")
    for cells in frames_report.table(report):
        table.add_row(*cells)
    print_result(title, table)


@app.command("frames", epilog=examples("evaluate frames"))
def frames(
    data: Path = typer.Option(..., "--data", help="Test dataset: the coarse input of --sr, or the frames an --ae reconstructs.", dir_okay=False),
    fine: Path = typer.Option(None, "--fine", help="Fine test dataset of the same simulations (2x or 4x finer): the SR target; adds the bicubic baseline.", dir_okay=False),
    sr: list[Path] = typer.Option(None, "--sr", metavar="<file>", help="SR checkpoint (needs --fine); repeatable. A row is named after its run directory.", dir_okay=False),
    ae: list[Path] = typer.Option(None, "--ae", metavar="<file>", help="Autoencoder checkpoint, evaluated on the test set of its training resolution (--data or --fine); repeatable.", dir_okay=False),
    start: int = typer.Option(START, "--start", help="First test frame evaluated (as evaluate rollout's --start; skip the start-up of the flow)."),
    stride: int = typer.Option(1, "--stride", help="Evaluate every STRIDE-th frame from --start."),
    metrics: str = typer.Option(DEFAULT_METRICS, "--metrics", show_default=DEFAULT_METRICS.replace(",", ", "), autocompletion=complete_metrics, help=f"Comma-separated metric columns: registry losses and physical measures ({MEASURE_NAMES}). A loss whose weights are missing becomes a column marked missing."),
    out: Path = typer.Option(..., "--out", help="Folder for frames.json, frames.csv and example.npz (one frame of every row).", file_okay=False),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a frame evaluation that --out already holds."),
    device: str = DeviceOption,
    amp: str = NetworkAmpOption,
    config: Path = ConfigOption,
) -> None:
    """Score SR outputs (against bicubic upsampling) and autoencoder reconstructions (with their compression ratio)
    on test frames: every metric, mean ± std over the frames and over the test simulations."""
    check_ranges(("--start", start, INDEX), ("--stride", stride, COUNT))
    check_amp(amp)
    parse_metrics(metrics)  # names known before torch and the data load
    check_output_dir(out)
    check_inputs([data, fine], [*(sr or []), *(ae or [])])
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.evaluation import frames, frames_report

    evaluation = frames.prepare(data, fine, ae or [], sr or [], start, stride, metrics, resolve_device(device), amp)
    with claim_folder(out, lambda: frames_report.check_out(out, overwrite)):  # one run writes `out` at a time
        announce_cost(evaluation.metrics)
        with progress_bar() as bar:
            task = bar.add_task("frames", total=None, unit="frames")
            values, example, spectra = frames.run(evaluation,
                                                  lambda done, total: bar.update(task, completed=done, total=total))
        report = frames_report.document(evaluation, values, spectra)
        files = frames_report.write(report, example, out)
    print_frames_table(report)
    print_against_mse(report)
    print_missing(report)
    console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False, soft_wrap=True)


@app.command("pair", epilog=examples("evaluate pair"))
def pair(
    a: str = typer.Argument(..., help="The reference: FILE.h5:SIM:FRAME (SIM as sim_0000 or 0), FILE.npy or FILE.png."),
    b: str = typer.Argument(..., help="The input compared with A, of the same kind and shape."),
    metrics: str = typer.Option("lsim", "--metrics", autocompletion=complete_metrics, help=f"Metric, or several comma-separated: registry losses; for dataset frames also {MEASURE_NAMES}."),
    device: str = DeviceOption,
    config: Path = ConfigOption,
) -> None:
    """Print metrics of B against A. Dataset frames are compared field by field as `evaluate rollout` does (velocity
    as F(X,X')+F(Y,Y'), density); .png/.npy inputs as images, lsim being the official LSiM computeDistance
    (resized to 224x224). Measures of one frame alone (divergence, energy) print A's and B's value."""
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.evaluation import pair as pairs

    for name, value in pairs.compare(a, b, metrics, resolve_device(device)).items():
        typer.echo(f"{name} A {value[0]:.8g} B {value[1]:.8g}" if isinstance(value, tuple) else f"{name} {value:.8g}")
