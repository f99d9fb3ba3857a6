"""`fluidloss benchmark`: time fine, coarse, coarse+SOL and coarse+SOL+SR rollouts and score them against the fine."""

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from fluidloss_cli.commands.common import (
    START,
    ConfigOption,
    DeviceOption,
    NetworkAmpOption,
    check_amp,
    check_inputs,
    complete_metrics,
    complete_solvers,
    console,
)
from fluidloss_cli.engine.atomic import check_writable_dir
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.lock import refuse_if_locked
from fluidloss_cli.engine.outputs import claim_outputs
from fluidloss_cli.engine.resolution import parse_option, parse_resolution
from fluidloss_cli.engine.results import COARSE, FINE

if TYPE_CHECKING:
    from fluidloss_cli.engine.benchmark import VariantResult
    from fluidloss_cli.engine.frontier import EqualAccuracy
    from fluidloss_cli.engine.metrics import Metric


WORSE = "*"
"""The mark of a variant less accurate than the uncorrected coarse solver (`results.COARSE`)."""
REPEATS = 5
"""Default timed runs per variant: enough for a median that one busy moment does not move."""
SPREAD_WARNING = 0.3
"""Warn when the repeats of a variant spread (max - min) over more than this fraction of their median."""


def judged_by(metrics: "list[Metric]") -> "str | None":
    """The column that decides whether a variant is worse than the uncorrected coarse solver: the first available
    error (lower is better), or None."""
    return next((m.name for m in metrics if m.is_error and not m.missing), None)


def worse(results: "list[VariantResult]", metric: "str | None") -> set[str]:
    """The variants (besides fine and the uncorrected coarse solver) with a larger `metric` than the latter's."""
    errors = {r.name: r.errors.get(metric) for r in results}
    base = errors.get(COARSE)
    if metric is None or not isinstance(base, float):
        return set()
    return {name for name, value in errors.items() if name not in (FINE, COARSE) and isinstance(value, float)
            and not value <= base}  # NaN (a rollout that blew up) counts as worse


def table(results: "list[VariantResult]", steps: int, metrics: "list[Metric]", solver: str,
          marked: set[str] = frozenset()) -> Table:
    """Per-frame time (median, min-max), speed-up over the fine simulation, and mean error of each variant; the
    `marked` variants' names carry WORSE."""
    fine_ms = results[0].per_frame_ms(steps)[0]
    view = Table(title=f"{steps}-step rollouts on the {solver} solver, per frame (median of interleaved runs, min-max)")
    scores = [m.name if m.absolute else f"{m.name} vs fine" for m in metrics]  # an absolute one: the variant's own
    for column in ["variant", "ms/frame", "speed-up vs fine", *scores]:
        view.add_column(column, justify="left" if column == "variant" else "right", no_wrap=column == "variant")
    for result in results:
        median, low, high = result.per_frame_ms(steps)
        errors = [f"{v:.4g}" if isinstance(v, float) else "missing" for v in result.errors.values()]
        name = f"{result.name} {WORSE}" if result.name in marked else result.name
        view.add_row(name, f"{median:.1f} ({low:.1f}-{high:.1f})", f"{fine_ms / median:.2f}x", *errors)
    return view


def spread_warning(results: "list[VariantResult]", steps: int) -> str | None:
    """A warning when a variant's repeats spread over more than SPREAD_WARNING of their median, or None."""
    spread = {r.name: r.per_frame_ms(steps) for r in results}
    wide = {name: ms for name, ms in spread.items() if ms[0] > 0 and (ms[2] - ms[1]) / ms[0] > SPREAD_WARNING}
    if not wide:
        return None
    listed = ", ".join(f"{name} {low:.1f}-{high:.1f} ms (median {median:.1f})"
                       for name, (median, low, high) in wide.items())
    return (f"the timed runs spread widely ({listed}): the machine was busy or is throttling, so the speed-ups are "
            "uncertain; rerun on an otherwise idle machine or with more --repeats")


def frontier_table(placed: "list[EqualAccuracy]") -> Table:
    """Each learned row's equal-accuracy speed-up: the plain solver's cost at its error over its own cost."""
    view = Table(title="equal-accuracy speed-up: the plain solver's ms/frame at the same error (log-log "
                       "interpolation along the frontier) over the learned row's")
    for column in ["variant", "metric", "error", "ms/frame", "plain ms/frame", "speed-up"]:
        view.add_column(column, justify="left" if column in ("variant", "metric") else "right",
                        no_wrap=column == "variant")
    for p in placed:
        plain = f"{p.plain_ms_per_frame:.2f}" if p.plain_ms_per_frame is not None else "-"
        view.add_row(p.variant, p.metric, f"{p.error:.4g}", f"{p.ms_per_frame:.2f}", plain, p.describe())
    return view


def benchmark(
    data: Path = typer.Option(..., "--data", help="Fine dataset: start frame, Reynolds number and reference.", dir_okay=False),
    sim: str = typer.Option("sim_0000", "--sim", help="Simulation (group) of --data to start from."),
    start: int = typer.Option(START, "--start", help="Frame to start the rollouts from (as evaluate's and simulate's --start)."),
    steps: int = typer.Option(50, "--steps", help="Steps per rollout."),
    res: str = typer.Option(None, "--res", help="Coarse resolution HxW (default: the SOL checkpoint's)."),
    sol: Path = typer.Option(None, "--sol", help="SOL checkpoint applied every coarse step.", dir_okay=False),
    sr: Path = typer.Option(None, "--sr", help="Super-resolution checkpoint applied to every coarse frame.", dir_okay=False),
    repeats: int = typer.Option(REPEATS, "--repeats", help="Timed runs per variant, interleaved, after one warm-up; a wide spread between them is warned about."),
    metrics: str = typer.Option("mse,lsim", "--metrics", autocompletion=complete_metrics, help="Comma-separated metrics, as evaluate's --metrics: registry losses and physical measures."),
    device: str = DeviceOption,
    solver: str = typer.Option(None, "--solver", autocompletion=complete_solvers, help="Solver of every rollout, the fine one included: native or "
                               "phiflow (default: the SOL checkpoint's, else native). A SOL model timed on the other "
                               "solver is warned about: its correction was learnt on its own."),
    out: Path = typer.Option(None, "--out", help="Also write the results to this JSON file.", dir_okay=False),
    frontier: str = typer.Option(None, "--frontier", help="Comma-separated resolutions HxW between coarse and fine: "
                                 "also time and score the plain solver there, and place the learned rows on that "
                                 "error-versus-cost curve (equal-accuracy speed-up by MSE and LSiM; with --out, a "
                                 "chart OUT_frontier.png)."),
    amp: str = NetworkAmpOption,
    config: Path = ConfigOption,
) -> None:
    """The study's time-cost evaluation: is coarse + SOL + SR faster than the fine simulation, and closer to it?"""
    if steps < 1 or repeats < 1:
        raise FluidlossError(f"--steps and --repeats must be at least 1, got {steps} and {repeats}")
    if res is None and sol is None:
        raise FluidlossError("give --res HxW (the coarse grid) or a --sol checkpoint (whose resolution is used)")
    check_amp(amp)
    requested = parse_option(res, "--res")
    grids = [parse_resolution(text, "--frontier") for text in frontier.split(",")] if frontier is not None else []
    check_inputs([data], [sol, sr])
    chart = out.with_name(f"{out.stem}_frontier.png") if out and grids else None
    for path in (out, chart):  # before any work: a second run on an output stops at once; the first holds it
        if path is not None:
            check_writable_dir(path.parent, path)
            refuse_if_locked(path)
    import torch

    from fluidloss_cli.engine.benchmark import (
        coarse_resolution,
        place_on_frontier,
        run_benchmark,
        write_frontier_chart,
        write_report,
    )
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.frontier import FRONTIER_METRICS
    from fluidloss_cli.engine.metrics import build_metrics

    with claim_outputs([out, chart]):
        target = resolve_device(device)
        coarse = coarse_resolution(requested, sol, data)
        columns = build_metrics(metrics, torch.device("cpu"))  # the fine reference and the scoring stay on the CPU
        if grids and not any(column.name in FRONTIER_METRICS for column in columns):
            raise FluidlossError(f"--frontier places the learned rows by {' and '.join(FRONTIER_METRICS)}: name one of "
                                 "them in --metrics")
        console.print(f"benchmark on {target}: {data} {sim} from frame {start}, {steps} steps, {repeats} timed runs each"
                      + (", networks in bf16" if amp == "bf16" else ""),
                      highlight=False)
        stepped, results = run_benchmark(data, sim, start, steps, coarse, target, sol=sol, sr=sr, repeats=repeats,
                                         metrics=columns, solver=solver, frontier=grids, amp=amp)
        judge = judged_by(columns)
        marked = worse(results, judge)
        console.print(table(results, steps, columns, stepped, marked))
        if marked:
            console.print(f"{WORSE} less accurate than {COARSE} (the uncorrected coarse solver) on {judge}: the "
                          "correction made the rollout worse", highlight=False)
        warning = spread_warning(results, steps)
        if warning:
            console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
        missing = {metric: value for result in results for metric, value in result.errors.items() if isinstance(value, str)}
        for metric, reason in missing.items():
            console.print(f"{metric} column {reason}", highlight=False)
        placed = place_on_frontier(results, steps) if grids else None
        if placed == []:
            console.print("--frontier: no learned row to place on it (no --sol or --sr), or neither MSE nor LSiM scored",
                          highlight=False)
        elif placed is not None:
            console.print(frontier_table(placed))
            console.print("above: less accurate than the plain coarse solver; below: more accurate than every plain row; "
                          "neither is interpolated, the bounds are what the measured rows allow", highlight=False)
        if out:
            write_report(out, results, target, stepped, data, sim, start, steps, placed, amp)
            console.print(f"wrote [bold]{out}[/]", highlight=False)
            if placed is not None:
                if write_frontier_chart(chart, results, steps, stepped,
                                        f"{data.name} {sim} from frame {start}, {steps} steps"):
                    console.print(f"wrote [bold]{chart}[/]", highlight=False)
