"""The study report's figures: SOL error over the rollout, training curves, SR/AE comparison panels of one test
frame and SR/AE error spectra; each written atomically as a PNG, drawn only where there is something to show."""

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fluidloss_cli.engine.results import BASELINES, BICUBIC, EXAMPLE_FILE, FINE_GRID, FRAMES_FILE, REFERENCE
from fluidloss_cli.engine.study.files import atomic_file
from fluidloss_cli.engine.study.layout import EVALUATION, RUN, cell_folder, slug
from fluidloss_cli.engine.study.sections import Section

ROW_STYLES = {REFERENCE: dict(color="gray", linestyle=":"), BASELINES["sol"].title: dict(color="black", linestyle="--"),
              BASELINES["sr"].title: dict(color="black", linestyle="--")}
"""How the reference and the baselines (the uncorrected solver, bicubic upsampling) are drawn among the losses'
lines."""
QUANTITY_LABELS = {"density": "density", "speed": "speed |u| at cell centres"}
"""What a comparison panel shows -> its colour-bar label."""


def save(figure: Any, path: Path) -> None:
    """Write a matplotlib figure as a PNG, atomically."""
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def plot_rollout(section: Section, metrics: list[str], path: Path) -> None:
    """SOL: each metric over the rollout steps, mean ± std over seeds x test simulations, a line per row."""
    from matplotlib.figure import Figure

    shown = [m for m in metrics if any(row.steps.get(m) for row in section.rows)]
    if not shown:
        return
    columns = min(3, len(shown))
    figure = Figure(figsize=(4.5 * columns, 3.2 * math.ceil(len(shown) / columns)), layout="constrained")
    axes = figure.subplots(math.ceil(len(shown) / columns), columns, squeeze=False)
    for axis, metric in zip(axes.flat, shown):
        for row in section.rows:
            curves = np.asarray(row.steps.get(metric) or [], dtype=np.float64)
            if curves.size == 0:
                continue
            steps = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(axis=0), curves.std(axis=0, ddof=1) if len(curves) > 1 else 0 * curves[0]
            (line,) = axis.plot(steps, mean, label=row.name, **ROW_STYLES.get(row.name, {}))
            axis.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        axis.set(title=metric, xlabel="rollout step", ylabel=metric)
    for axis in list(axes.flat)[len(shown):]:
        axis.set_visible(False)
    labelled: dict[str, Any] = {}  # every row's line once, the reference's too (drawn in the absolute panels only)
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            labelled.setdefault(label, handle)
    axes.flat[0].legend(list(labelled.values()), list(labelled), fontsize="small")
    figure.suptitle(f"{section.title}: error over the rollout, mean ± std over seeds x test simulations")
    save(figure, path)


def plot_training(section: Section, path: Path) -> None:
    """Training curves: a panel per loss, validation (solid) and training (dashed) loss per epoch, a line per seed;
    where the runs measured their baseline (SOL's uncorrected solver, SR's bicubic upsampling: the untrained model),
    the validation curves start from it at epoch 0 and a dotted line marks it, so one epoch is a line, not a dot."""
    from matplotlib.figure import Figure

    losses = [loss for loss, runs in section.training.items() if runs]
    if not losses:
        return
    figure = Figure(figsize=(max(6.0, 3.6 * len(losses)), 3), layout="constrained")
    for axis, loss in zip(figure.subplots(1, len(losses), squeeze=False).flat, losses):
        for seed, records in enumerate(section.training[loss]):
            epochs = [r["epoch"] for r in records]
            baseline = records[0].get("baseline_val_loss") if records else None
            start = ([0], [baseline]) if baseline is not None else ([], [])
            (line,) = axis.plot(start[0] + epochs, start[1] + [r["val_loss"] for r in records], marker="o",
                                label=f"seed {seed} val")
            axis.plot(epochs, [r["train_loss"] for r in records], marker=".", linestyle="--", color=line.get_color())
            if baseline is not None:
                axis.axhline(baseline, color="gray", linestyle=":", linewidth=1,
                             label="untrained (baseline)" if seed == 0 else None)
        axis.set(title=loss, xlabel="epoch", yscale="log")
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.legend(fontsize="x-small")
    figure.suptitle(f"{section.task} on {section.scene}: validation (solid) and training (dashed) loss")
    save(figure, path)


def panel(data: Any, label: str, shows: str) -> np.ndarray:
    """One comparison panel's values: the row's density (where it has one), else its speed at the cell centres."""
    if shows == "density" and f"{label}/density" in data.files:
        return data[f"{label}/density"]
    vx, vy = data[f"{label}/velocity_x"], data[f"{label}/velocity_y"]
    return np.hypot(0.5 * (vx[:, :-1] + vx[:, 1:]), 0.5 * (vy[:-1] + vy[1:]))


def example_panels(out: Path, section: Section, shows: str) -> list[tuple[str, np.ndarray]]:
    """SR/AE: one test frame of the reference, the baseline and every loss's model (first seed), as panels."""
    panels = []
    for row in section.rows:
        if row.status:
            continue
        if row.name in (REFERENCE, BICUBIC):
            source = section.example
            label = BICUBIC if row.name == BICUBIC else f"{REFERENCE}_" + (FINE_GRID if section.kind == "sr" else "data")
        else:
            found = model_evaluations(out, section, slug(row.name), EXAMPLE_FILE)
            source, label = (found[0] if found else None), RUN
        if source is not None and source.exists():
            data = np.load(source)
            if f"{label}/velocity_x" in data.files:
                panels.append((row.name, panel(data, label, shows)))
    return panels


def plot_example(out: Path, section: Section, shows: str, path: Path) -> None:
    """SR/AE: the panels of `example_panels` on one colour scale; `shows` density (a scene whose density is scored,
    buoyancy's plume) or speed (Karman's density is a passive marker, blank over most of the wake)."""
    from matplotlib.figure import Figure

    panels = example_panels(out, section, shows)
    if not panels:
        return
    low = min(float(np.nanmin(p)) for _, p in panels)
    high = max(float(np.nanmax(p)) for _, p in panels)
    figure = Figure(figsize=(max(5.0, 2.2 * len(panels)), 3.4), layout="constrained")
    for axis, (title, values) in zip(figure.subplots(1, len(panels), squeeze=False).flat, panels):
        image = axis.imshow(values, origin="lower", vmin=low, vmax=high, cmap="viridis")
        axis.set(title=title, xticks=[], yticks=[])
    figure.colorbar(image, ax=figure.axes, shrink=0.8, label=QUANTITY_LABELS[shows])
    figure.suptitle(f"{section.task} on {section.ood or section.scene}: {example_place(section)}, {shows}")
    save(figure, path)


def example_place(section: Section) -> str:
    """Which test frame the example panels show, e.g. `test simulation sim_0001, frame 40` (the middle evaluated
    frame of the first test simulation, as `evaluate frames` chose it)."""
    if section.example is None or not section.example.exists():
        return "one test frame"
    data = np.load(section.example)
    if "frame" not in data.files:
        return "one test frame"
    return f"test simulation {data['simulation']}, frame {int(data['frame'])}"


class ErrorSpectra(NamedTuple):
    """What an SR/AE section's spectra figure draws."""

    wavenumbers: list[float]
    errors: dict[str, np.ndarray]
    """Row -> its error spectrum: a loss's the mean over its seeds' models, the baseline's from one evaluation."""
    reference: np.ndarray | None
    """The reference's energy spectrum."""
    coarse_nyquist: float | None
    """SR: the coarse grid's Nyquist wavenumber, above which the detail is the network's to invent (square cells:
    the shell width times half the coarse grid's smaller cell count); None for AE."""


def model_evaluations(out: Path, section: Section, loss: str, name: str) -> list[Path]:
    """File `name` of every seed's evaluation of a loss (its folder name; `*` for any loss) in a section, in order."""
    folder = cell_folder(out, f"{section.evaluations}/{section.task}/{section.scene}/{loss}")
    return sorted(folder.parent.glob(f"{folder.name}/seed*/{EVALUATION}/{name}"))


def error_spectra(out: Path, section: Section) -> ErrorSpectra:
    """An SR/AE section's error spectra, read from its evaluations' frames.json (`spectra`)."""
    wavenumbers, found, reference, nyquist = [], {}, None, None
    for row in section.rows:
        if row.status or row.name == REFERENCE:
            continue
        baseline = row.name == BICUBIC  # any one evaluation has it
        label = BICUBIC if baseline else RUN
        reports = (json.loads(path.read_text()) for path in
                   model_evaluations(out, section, "*" if baseline else slug(row.name), FRAMES_FILE))
        reports = [r for r in reports if label in r.get("spectra", {}).get("rows", {})]
        reports = reports[:1] if baseline else reports
        if not reports:
            continue
        found[row.name] = np.mean([r["spectra"]["rows"][label]["error"] for r in reports], axis=0)
        grid = reports[0]["spectra"]["rows"][label]["grid"]
        wavenumbers = reports[0]["spectra"]["wavenumbers"][grid]
        reference = np.asarray(reports[0]["spectra"]["rows"][f"{grid}/{REFERENCE}"]["energy"])
        if section.kind == "sr":
            nyquist = wavenumbers[1] * min(reports[0]["datasets"]["data"]["resolution"]) / 2
    return ErrorSpectra(wavenumbers, found, reference, nyquist)


def plot_spectra(out: Path, section: Section, path: Path) -> None:
    """SR/AE: each row's error spectrum (mean over its seeds) beside the reference's energy spectrum, log-log: at
    which scales each loss leaves its error."""
    from matplotlib.figure import Figure

    wavenumbers, found, reference, nyquist = error_spectra(out, section)
    if not found:
        return
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    axis = figure.subplots()
    for name, spectrum in found.items():
        axis.loglog(wavenumbers[1:], spectrum[1:], label=name, **ROW_STYLES.get(name, {}))
    if reference is not None:
        axis.loglog(wavenumbers[1:], reference[1:], label="reference energy", **ROW_STYLES[REFERENCE])
    if nyquist is not None:
        axis.axvline(nyquist, color="gray", linewidth=0.8, label="coarse grid's Nyquist wavenumber")
    axis.set(xlabel="wavenumber (cycles per unit)", ylabel="kinetic energy per shell",
             title=f"{section.task} on {section.ood or section.scene}: error spectra (mean over seeds)")
    axis.legend(fontsize="small")
    save(figure, path)
