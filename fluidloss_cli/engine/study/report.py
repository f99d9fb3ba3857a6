"""The study report: the per-cell results of every shard merged into `report.md`, `report.json` and figures.

Per task and scene, a table of every loss (rows) against every metric (columns). A trained row's value pools the
models of every training seed over every test simulation: the mean and sample standard deviation of those
seeds x simulations values (for SOL a simulation's value is its mean over the rollout steps and start frames, for SR
and AE over the test frames). The best value of a column is marked only when its interval mean ± std overlaps no
other loss's interval, and only where every loss has a spread (two values or more). Per scene, a table of how far
its test simulations lie from its training data (engine/data/novelty.py).
"""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fluidloss_cli.engine.data.novelty import ABOUT, HEADER, as_records, novelty, rows
from fluidloss_cli.engine.study.cells import CELLS, slug
from fluidloss_cli.engine.study.files import atomic_file, read_json, write_json, write_text
from fluidloss_cli.engine.study.runner import FAILED, PLAN, RESULT

HIGHER_IS_BETTER = {"vorticity"}
"""Metrics where higher is better; for registry losses and the spectrum error lower is; measures of a prediction
alone (`absolute` in the evaluation files: divergence, energy, mass) are compared with the reference row, never
marked."""
BASELINE = {"sol": ("coarse", "coarse (no correction)"), "sr": ("bicubic", "bicubic")}
"""Task -> (row label in the evaluation files, row name in the report) of its baseline; AE has none."""
RUN_LABEL = "run"
"""The row label `evaluate` gives a checkpoint `run/best.pt`."""


@dataclass
class Row:
    """One report row: per metric the pooled values, and step curves [values][steps] (SOL)."""

    name: str
    values: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, list[list[float]]] = field(default_factory=dict)
    status: str = ""
    """Empty when measured; else why the row has no values (skipped: weights missing, pending, failed)."""
    compression: float | None = None


def finite(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def summary(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else None


def evaluation_rows(out: Path, eval_id: str, kind: str) -> tuple[dict[str, Row], dict[str, dict]]:
    """An evaluation cell's rows by label (values per test simulation, SOL step curves per simulation, compression
    ratio) and its metric facts; `kind` is the task trained (sol, sr, ae)."""
    folder = out / CELLS / eval_id / "evaluation"
    if kind == "sol":
        report = read_json(folder / "evaluation.json")
        rows = {label: Row(label, {m: [float(np.nanmean(finite(s))) for s in stats["per_simulation"]]
                                   for m, stats in content["metrics"].items()},
                           {m: [finite(s) for s in stats["per_simulation"]] for m, stats in content["metrics"].items()})
                for label, content in report["grids"]["coarse"]["rows"].items()}
        return rows, report["metrics"]
    report = read_json(folder / "frames.json")
    rows = {label.split("/")[-1]: Row(label, {m: finite(stats["per_simulation"]) for m, stats in content["metrics"].items()},
                                      compression=content["compression_ratio"])
            for label, content in report["rows"].items()}
    return rows, report["metrics"]


@dataclass
class Section:
    """One task on one scene: rows, metric facts, cells and files."""

    task: str
    scene: str
    kind: str
    """The task trained: sol, sr or ae (`task` is its table's name)."""
    rows: list[Row]
    metrics: dict[str, dict]
    example: Path | None = None
    training: dict[str, list[list[dict]]] = field(default_factory=dict)
    """loss -> per seed, its metrics.jsonl records."""


def build_section(out: Path, plan: dict, task: str, scene: str) -> Section:
    """Collect the results of every model of a task on a scene, and its baseline and reference rows."""
    about = plan["tasks"][task]
    kind = about.get("kind", task)
    metrics_about: dict[str, dict] = {}
    rows, baseline, reference = [], None, None
    training: dict[str, list[list[dict]]] = {}
    example = None
    for loss in about.get("losses", plan["losses"]):
        row = Row(loss)
        training[loss] = []
        for seed in plan["seeds"]:
            name = f"{task}/{scene}/{slug(loss)}/seed{seed}"
            train = read_json(out / CELLS / f"train/{name}" / RESULT)
            evaluated = read_json(out / CELLS / f"eval/{name}" / RESULT)
            if train and train["status"] == "skipped":
                row.status = f"skipped: {train['reason']}"
                continue
            log = out / CELLS / f"train/{name}" / "run" / "metrics.jsonl"
            if train and log.exists():
                training[loss].append([json.loads(line) for line in log.read_text().splitlines()])
            if not evaluated or evaluated["status"] != "done":
                failed = (out / CELLS / f"eval/{name}" / FAILED).exists() or \
                    (out / CELLS / f"train/{name}" / FAILED).exists()
                row.status = row.status or ("failed" if failed else "pending")
                continue
            found, metrics_about = evaluation_rows(out, f"eval/{name}", kind)
            row.compression = found[RUN_LABEL].compression
            for metric, values in found[RUN_LABEL].values.items():
                row.values.setdefault(metric, []).extend(values)
                row.steps.setdefault(metric, []).extend(found[RUN_LABEL].steps.get(metric, []))
            if baseline is None and kind in BASELINE:
                label, title = BASELINE[kind]
                baseline = dataclasses.replace(found[label], name=title)
            if reference is None and "reference" in found:  # only measures of a frame alone have one
                reference = dataclasses.replace(found["reference"], name="reference")
            if example is None and kind != "sol":
                example = out / CELLS / f"eval/{name}" / "evaluation" / "example.npz"
        if row.values and row.status == "pending":
            row.status = ""  # some seeds measured: show them, the cell list says which are missing
        rows.append(row)
    return Section(task, scene, kind, [r for r in (baseline, reference) if r] + rows, metrics_about, example, training)


def marked(section: Section, metric: str) -> str | None:
    """The loss whose value of `metric` is best and whose mean ± std overlaps no other loss's; None if none is."""
    if section.metrics.get(metric, {}).get("absolute", False):
        return None
    losses = [r for r in section.rows if r.name not in ("reference", *(t for _, t in BASELINE.values()))
              and not r.status and metric in r.values]
    if len(losses) < 2 or any(len(r.values[metric]) < 2 for r in losses):
        return None
    stats = {r.name: summary(r.values[metric]) for r in losses}
    if any(math.isnan(m) for m, _ in stats.values()):
        return None
    sign = -1 if metric in HIGHER_IS_BETTER else 1
    best = min(stats, key=lambda name: sign * stats[name][0])
    low, high = stats[best][0] - stats[best][1], stats[best][0] + stats[best][1]
    others = [(m - s, m + s) for name, (m, s) in stats.items() if name != best]
    return best if all(high < lo or low > hi for lo, hi in others) else None


def cell_text(row: Row, metric: str, about: dict, best: bool) -> str:
    """A table cell: `mean ± std`, bold when marked best; `missing` (weights) or `—` where there is no value."""
    if row.status:
        return "—"
    if metric not in row.values:
        return "missing" if about.get("missing") and row.name != "reference" else "—"
    mean, std = summary(row.values[metric])
    text = "nan" if math.isnan(mean) else f"{mean:.4g}" + ("" if std is None else f" ± {std:.2g}")
    return f"**{text}**" if best else text


def table(section: Section, metrics: list[str]) -> list[str]:
    """The markdown table of a section."""
    best = {metric: marked(section, metric) for metric in metrics}
    extra = ["compression"] if section.kind == "ae" else []
    lines = ["| loss | " + " | ".join(extra + metrics) + " |", "|---" * (1 + len(extra) + len(metrics)) + "|"]
    for row in section.rows:
        name = row.name + (f" ({row.status})" if row.status else "")
        cells = ([f"{row.compression:.3g}" if row.compression else "—"] if extra else [])
        cells += [cell_text(row, m, section.metrics.get(m, {}), best[m] == row.name) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


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
            style = {"reference": dict(color="gray", linestyle=":"),
                     "coarse (no correction)": dict(color="black", linestyle="--")}.get(row.name, {})
            (line,) = axis.plot(steps, mean, label=row.name, **style)
            axis.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        axis.set(title=metric, xlabel="rollout step")
    for axis in list(axes.flat)[len(shown):]:
        axis.set_visible(False)
    labelled: dict[str, Any] = {}  # every row's line once, the reference's too (drawn in the absolute panels only)
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            labelled.setdefault(label, handle)
    axes.flat[0].legend(list(labelled.values()), list(labelled), fontsize="small")
    figure.suptitle(f"SOL on {section.scene}: error over the rollout, mean ± std over seeds x test simulations")
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


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
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def example_panels(out: Path, section: Section) -> list[tuple[str, np.ndarray]]:
    """SR/AE: one test frame of the reference, the baseline and every loss's model (first seed), as panels."""
    panels = []
    for row in section.rows:
        if row.status:
            continue
        if row.name in ("reference", "bicubic"):
            source = section.example
            label = row.name if row.name == "bicubic" else "reference_" + ("fine" if section.kind == "sr" else "data")
        else:
            found = sorted((out / CELLS / "eval" / section.task / section.scene / slug(row.name))
                           .glob("seed*/evaluation/example.npz"))
            source, label = (found[0] if found else None), RUN_LABEL
        if source is not None and source.exists():
            data = np.load(source)
            if f"{label}/velocity_x" in data.files:
                panels.append((row.name, quantity(data, label, section.scene)[1]))
    return panels


def plot_example(out: Path, section: Section, path: Path) -> None:
    """SR/AE: the panels of `example_panels` on one colour scale."""
    from matplotlib.figure import Figure

    panels = example_panels(out, section)
    if not panels:
        return
    low = min(float(np.nanmin(p)) for _, p in panels)
    high = max(float(np.nanmax(p)) for _, p in panels)
    figure = Figure(figsize=(max(5.0, 2.2 * len(panels)), 3.4), layout="constrained")
    for axis, (title, values) in zip(figure.subplots(1, len(panels), squeeze=False).flat, panels):
        image = axis.imshow(values, origin="lower", vmin=low, vmax=high, cmap="viridis")
        axis.set(title=title, xticks=[], yticks=[])
    figure.colorbar(image, ax=figure.axes, shrink=0.8, label=QUANTITY_LABELS[quantity_name(section.scene)])
    figure.suptitle(f"{section.task} on {section.scene}: one test frame, {quantity_name(section.scene)}")
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


QUANTITY_LABELS = {"density": "density", "speed": "speed |u| at cell centres"}
"""What a comparison panel shows -> its colour-bar label."""


def quantity_name(scene: str) -> str:
    """What the comparison panels of a scene show: buoyancy's density (the plume), else the speed (Karman's marker
    is a passive strip at the inflow, blank over most of the wake)."""
    return "density" if scene == "buoyancy" else "speed"


def quantity(data: Any, label: str, scene: str) -> tuple[str, np.ndarray]:
    """What a comparison panel shows (see `quantity_name`), by name, and its values."""
    name = quantity_name(scene)
    if name == "density" and f"{label}/density" in data.files:
        return name, data[f"{label}/density"]
    vx, vy = data[f"{label}/velocity_x"], data[f"{label}/velocity_y"]
    return "speed", np.hypot(0.5 * (vx[:, :-1] + vx[:, 1:]), 0.5 * (vy[:-1] + vy[1:]))


def novelty_section(out: Path, scene: str, baseline: Row | None) -> tuple[list[str], list[dict]]:
    """How far the scene's coarse test simulations lie from its coarse training data, beside the uncorrected coarse
    solver's rollout MSE per test simulation (the SOL baseline; none without it): report lines and records."""
    data = out / CELLS / "data" / scene
    test, train = data / "test-coarse" / "data.h5", data / "train-coarse" / "data.h5"
    if not (test.exists() and train.exists()):
        return [], []
    found = novelty(test, train)
    errors = baseline.values.get("mse") if baseline else None
    records = as_records(found, {item.simulation: error for item, error in zip(found, errors or [])})
    lines = [f"## test vs training data · {scene}", "",
             f"The coarse test data against the coarse training data (nearest frame searched for "
             f"{'every test frame' if found[0].stride == 1 else f'every {found[0].stride}th test frame'}). {ABOUT}", "",
             "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows(records)] + [""], records


def cell_lines(out: Path, plan: dict) -> list[str]:
    """A table of every cell: status, wall time and device."""
    lines = ["| cell | status | wall time (s) | device |", "|---|---|---|---|"]
    for cell in plan["cells"]:
        result = read_json(out / CELLS / cell["id"] / RESULT) or read_json(out / CELLS / cell["id"] / FAILED) or {}
        status = result.get("status", "pending") + (f": {result['reason']}" if result.get("reason") else "")
        wall = f"{result['wall_s']:.1f}" if "wall_s" in result else "—"
        lines.append(f"| {cell['id']} | {status} | {wall} | {result.get('device', '—')} |")
    return lines


HOW_TO_READ = """Each trained row pools every training seed's model over every test simulation: the value is the mean
of those seeds x simulations values and ± their sample standard deviation (its spread). For SOL a simulation's value
is its mean over the rollout steps (and start frames), for SR and AE over the test frames. The baseline row (the
uncorrected coarse solver for SOL, bicubic upsampling for SR; an autoencoder has none: its compression ratio is
given instead) and the reference row (measures of the reference alone: divergence, energy) are spread over the test
simulations only. **Bold**: the best loss of a column (lowest, highest for vorticity), marked only where its
interval mean ± std overlaps no other loss's interval and every loss has a spread; divergence and energy are
compared with the reference row and never marked. `missing`: the metric's weights are not on this machine;
`skipped: weights missing`: the loss could not be trained here."""


def write_report(out: Path) -> list[Path]:
    """Merge the cell results in `out` into report.md, report.json and figures/; returns the files written."""
    from fluidloss_cli.engine.errors import FluidlossError

    plan = read_json(out / PLAN)
    if plan is None:
        raise FluidlossError(f"{out} holds no study ({PLAN} is missing): run `fluidloss study run` first")
    figures = out / "figures"
    files, lines, data = [], [f"# Study report: {plan['name']}", "", HOW_TO_READ, ""], {}
    baselines: dict[str, Row] = {}
    for task, about in plan["tasks"].items():
        for scene in about["scenes"]:
            section = build_section(out, plan, task, scene)
            if section.kind == "sol" and section.rows and section.rows[0].name == BASELINE["sol"][1]:
                baselines.setdefault(scene, section.rows[0])
            info = plan["scenes"][scene]
            lines += [f"## {task} · {scene}", "",
                      f"Fine {info['fine']}, coarse {info['coarse']}; {info['frames']} frames per simulation after "
                      f"{info['warmup']} warm-up frames; {info['train_simulations']} training and "
                      f"{info['test_simulations']} test simulation(s); {len(plan['seeds'])} training seed(s).", ""]
            lines += table(section, plan["metrics"]) + [""]
            data[f"{task}/{scene}"] = {row.name: {"status": row.status, "compression": row.compression,
                                                  "values": row.values} for row in section.rows}
            plots = [(f"{task}_{scene}_rollout.png", "error over the rollout",
                      lambda p, s=section: plot_rollout(s, plan["metrics"], p))] if section.kind == "sol" else []
            plots += [(f"{task}_{scene}_training.png", "training curves", lambda p, s=section: plot_training(s, p))]
            plots += [(f"{task}_{scene}_comparison.png", "one test frame",
                       lambda p, s=section: plot_example(out, s, p))] if section.kind != "sol" else []
            for name, title, draw in plots:
                draw(figures / name)
                if (figures / name).exists():
                    files.append(figures / name)
                    lines += [f"![{task} {scene}: {title}](figures/{name})", ""]
            render = sorted((out / CELLS / "render" / task / scene / "frames").glob("frame_*.png"))
            if render:
                lines += [f"![{task} {scene}: coarse | coarse+SOL | reference, last rollout frame]"
                          f"({render[-1].relative_to(out).as_posix()})", ""]
    for scene in plan["scenes"]:
        found, data[f"novelty/{scene}"] = novelty_section(out, scene, baselines.get(scene))
        lines += found
    lines += ["## Cells", ""] + cell_lines(out, plan) + [""]
    write_text(out / "report.md", "\n".join(lines))
    write_json(out / "report.json", data)
    return [out / "report.md", out / "report.json", *files]
