"""Plots of an evaluation report: each metric over the rollout steps, and the final spectra.

Figures are plain matplotlib `Figure`s (rendered by Agg), so no GUI backend or global pyplot state is involved."""

import math
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fluidloss_cli.engine.atomic import atomic_path
from fluidloss_cli.engine.results import REFERENCE


def nan(value: float | None) -> float:
    """A report value for plotting: None (NaN in the JSON) back to NaN."""
    return math.nan if value is None else value


def save(figure: Figure, path: Path) -> None:
    """Write a figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def plot_errors(report: dict, grid: str, path: Path) -> None:
    """One panel per available metric: mean over the simulations against the rollout step, a band of +- one std,
    a line per row (the reference too, for measures of a prediction alone such as energy)."""
    metrics = [name for name, about in report["metrics"].items() if not about["missing"]]
    columns = min(3, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    steps = range(1, report["steps"] + 1)
    for axis, metric in zip(axes.flat, metrics):
        for row, content in report["grids"][grid]["rows"].items():
            stats = content["metrics"].get(metric)
            if stats is None:
                continue
            mean, std = [nan(v) for v in stats["step_mean"]], [nan(v) for v in stats["step_std"]]
            style = dict(color="black", linestyle="--") if row == REFERENCE else {}
            (line,) = axis.plot(steps, mean, label=row, **style)
            axis.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                              color=line.get_color(), alpha=0.2)
        axis.set(title=metric, xlabel="rollout step", ylabel=metric)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in list(axes.flat)[len(metrics):]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    figure.suptitle(f"{grid} grid: mean ± std over {len(report['simulations'])} test simulation(s)")
    save(figure, path)


def plot_spectra(report: dict, grid: str, path: Path) -> None:
    """Kinetic-energy spectra at the final rollout step, mean over the simulations, log-log, the mean flow left out."""
    content = report["grids"][grid]
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axis = figure.subplots()
    for row, values in content["rows"].items():
        style = dict(color="black", linestyle="--") if row == REFERENCE else {}
        axis.loglog(content["wavenumbers"][1:], [nan(v) for v in values["spectrum"][1:]], label=row, **style)
    axis.set(xlabel="wavenumber k (cycles per domain unit)", ylabel="E(k)",
             title=f"{grid} grid: kinetic-energy spectrum at step {report['steps']}")
    axis.legend(fontsize="small")
    save(figure, path)


def write_plots(report: dict, out: Path) -> list[Path]:
    """errors_GRID.png and spectra_GRID.png for every grid of the report."""
    files = []
    for grid in report["grids"]:
        if any(not about["missing"] for about in report["metrics"].values()):
            plot_errors(report, grid, out / f"errors_{grid}.png")
            files.append(out / f"errors_{grid}.png")
        plot_spectra(report, grid, out / f"spectra_{grid}.png")
        files.append(out / f"spectra_{grid}.png")
    return files
