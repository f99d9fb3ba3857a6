"""The study report's data: per task and scene, a row per loss pooling every training seed's model over every test
simulation, beside the baseline and reference rows, read from the cells' result files (engine/results.py); and which
loss is best on a metric, where the spread allows saying so.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.metric_facts import HIGHER, MetricFacts
from fluidloss_cli.engine.results import BASELINES, BICUBIC, COARSE_GRID, EXAMPLE_FILE, FINE_GRID, FRAMES_FILE, REFERENCE, \
    ROLLOUTS_FILE, EvaluationResult, read_frames, read_rollouts, read_training_log
from fluidloss_cli.engine.study.files import read_json
from fluidloss_cli.engine.study.layout import (
    FAILED,
    OOD,
    PIPE,
    RESULT,
    RUN,
    ModelId,
    cell_folder,
    evaluation_folder,
    produced,
    run_folder,
)

BASELINE_TITLES = {baseline.title for baseline in BASELINES.values()}


ROW_PENDING, ROW_FAILED = "pending", "failed"
"""A row's status while its model has no evaluation: still to run, or stopped by an error."""


@dataclass
class Row:
    """One report row: per metric the pooled values, and step curves [values][steps] (SOL)."""

    name: str
    values: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, list[list[float]]] = field(default_factory=dict)
    status: str = ""
    """Empty when measured; else why the row has no values (skipped: weights missing, pending, failed)."""
    compression: float | None = None
    seeds: int = 0
    """The training seeds whose models are measured (a trained row)."""
    seed_ids: list[int] = field(default_factory=list)
    """Those seeds, in the order of `values` (seed-major: each seed's test simulations in turn)."""


def summary(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else None


def evaluation_rows(out: Path, eval_id: str, kind: str, grid: str = COARSE_GRID
                    ) -> tuple[dict[str, Row], dict[str, MetricFacts]]:
    """An evaluation cell's rows by label (a value per test simulation; for rollouts its mean over the rollout steps,
    and the step curves) and its metrics' facts; `kind` is sol (rollouts, of `grid`), sr or ae (frames). A cell
    recorded done without its evaluation file is one line saying how to redo it (`study run` counts it unfinished)."""
    folder = evaluation_folder(out, eval_id)
    if not produced(out, eval_id, "evaluate"):
        raise FluidlossError(f"{eval_id} is recorded as done, but {folder} holds no {ROLLOUTS_FILE} or {FRAMES_FILE}: "
                             f"rerun `fluidloss study run {out / 'study.toml'} --out {out}` to evaluate it again")
    found: EvaluationResult = read_rollouts(folder, grid) if kind == "sol" else read_frames(folder)
    rows = {label: Row(row.label, {m: [float(np.nanmean(s)) for s in sims] for m, sims in row.per_simulation.items()},
                       dict(row.per_simulation) if kind == "sol" else {}, compression=row.compression)
            for label, row in found.rows.items()}
    return rows, found.metrics


@dataclass
class Section:
    """One task on one scene: rows, metric facts, cells and files."""

    task: str
    scene: str
    kind: str
    """The task trained: sol, sr or ae (`task` is its table's name)."""
    rows: list[Row]
    metrics: dict[str, MetricFacts]
    example: Path | None = None
    training: dict[str, list[list[dict]]] = field(default_factory=dict)
    """loss -> per seed, its training log records."""
    ood: str | None = None
    """The scene's variant when the section holds the models' out-of-distribution evaluation, else None."""
    pipeline: str | None = None
    """The SOL task whose models correct the coarse rollouts that an SR section's models super-resolve (the rollout
    use case, `rollout_sol`), else None."""

    @property
    def evaluations(self) -> str:
        """The prefix of its models' evaluation cells: `eval`, `ood` (out of distribution) or `pipe` (rollouts)."""
        return OOD if self.ood else PIPE if self.pipeline else "eval"

    @property
    def title(self) -> str:
        """Its heading: `TASK · SCENE`, `TASK · SCENE · out of distribution: VARIANT`, `TASK · SCENE · rollout: coarse
        + SOL_TASK + SR`."""
        return f"{self.task} · {self.scene}" + (f" · out of distribution: {self.ood}" if self.ood else "") + \
            (f" · rollout: coarse + {self.pipeline} + SR" if self.pipeline else "")

    @property
    def key(self) -> str:
        """Its name in report.json and its figures': `TASK/SCENE`, `TASK/SCENE/ood`, `TASK/SCENE/pipe`."""
        return f"{self.task}/{self.scene}" + (f"/{OOD}" if self.ood else "") + (f"/{PIPE}" if self.pipeline else "")

    @property
    def rollouts(self) -> bool:
        """Whether its rows are rollouts (SOL, and the SR rollout use case): step curves, the rollout figure."""
        return self.kind == "sol" or self.pipeline is not None


def model_status(out: Path, name: str, evaluations: str = "eval") -> tuple[str | None, bool]:
    """Why a model (`task/scene/loss/seed`) has no evaluation in its `evaluations` cell (`eval` or `ood`): skipped,
    failed, pending; None once evaluated; and whether its training finished or was skipped."""
    train, evaluated = read_json(cell_folder(out, f"train/{name}") / RESULT), \
        read_json(cell_folder(out, f"{evaluations}/{name}") / RESULT)
    if train and train["status"] == "skipped":
        return f"skipped: {train['reason']}", True
    if evaluated and evaluated["status"] == "done":
        return None, True
    failed = any((cell_folder(out, f"{kind}/{name}") / FAILED).exists() for kind in ("train", evaluations))
    return (ROW_FAILED if failed else ROW_PENDING), bool(train)


def build_section(out: Path, plan: dict, task: str, scene: str, ood: bool = False, pipeline: bool = False) -> Section:
    """Collect the results of every model of a task on a scene, and its baseline and reference rows: on the
    scene's test set, (`ood`) on its out-of-distribution variant's, or (`pipeline`, SR) in the rollout use case, on
    the fine grid after the `rollout_sol` task's model (baseline: the same rollouts upsampled bicubically)."""
    kind = plan["tasks"][task].get("kind", task)
    section = Section(task, scene, kind, [], {}, ood=plan["scenes"][scene].get("ood") if ood else None,
                      pipeline=plan["tasks"][task]["options"].get("rollout_sol") if pipeline else None)
    model_label, baseline_label = (f"{RUN}+{RUN}", f"{RUN}+{BICUBIC}") if pipeline else \
        (RUN, BASELINES[kind].label if kind in BASELINES else None)
    baseline, reference = None, None
    for loss in plan["tasks"][task].get("losses", plan["losses"]):
        row = Row(loss)
        section.training[loss] = []
        for seed in plan["tasks"][task].get("seeds", plan["seeds"]):
            name = str(ModelId.of(task, scene, loss, seed))
            status, trained = model_status(out, name, section.evaluations)
            if trained and not (status or "").startswith("skipped"):
                log = read_training_log(run_folder(out, f"train/{name}"))
                section.training[loss] += [log] if log else []
            if status is not None:
                row.status = row.status or status
                continue
            found, section.metrics = evaluation_rows(out, f"{section.evaluations}/{name}",
                                                     "sol" if section.rollouts else kind,
                                                     FINE_GRID if pipeline else COARSE_GRID)
            run = found[model_label]  # `evaluate` labels a run folder's best.pt by the folder's name
            row.compression, row.seeds = run.compression, row.seeds + 1
            row.seed_ids.append(seed)
            for metric, values in run.values.items():
                row.values.setdefault(metric, []).extend(values)
                row.steps.setdefault(metric, []).extend(run.steps.get(metric, []))
            if baseline is None and baseline_label is not None:
                baseline = dataclasses.replace(found[baseline_label], name=BASELINES[kind].title)
            if reference is None and REFERENCE in found:  # only measures of a frame alone have one
                reference = dataclasses.replace(found[REFERENCE], name=REFERENCE)
            if section.example is None and not section.rollouts:
                section.example = evaluation_folder(out, f"{section.evaluations}/{name}") / EXAMPLE_FILE
        if row.values and row.status == ROW_PENDING:
            row.status = ""  # some seeds measured: show them, the cell list says which are missing
        section.rows.append(row)
    section.rows[:0] = [r for r in (baseline, reference) if r]
    return section


def marked(section: Section, metric: str) -> str | None:
    """The loss whose value of `metric` is best and whose mean ± std overlaps no other loss's; None if none is, where
    the metric has no better direction (a measure of the prediction alone, compared with the reference), and while
    the comparison is incomplete: a loss still pending or failed, or losses measured on different numbers of seeds
    (a study half run has no best loss yet). A loss that cannot be trained here (weights missing) does not hold
    the mark back."""
    facts = section.metrics.get(metric)
    if facts is None or facts.better is None:
        return None
    trained = [r for r in section.rows if r.name not in (REFERENCE, *BASELINE_TITLES)]
    if any(r.status in (ROW_PENDING, ROW_FAILED) for r in trained) or len({r.seeds for r in trained if not r.status}) > 1:
        return None
    losses = [r for r in trained if not r.status and metric in r.values]
    if len(losses) < 2 or any(len(r.values[metric]) < 2 for r in losses):
        return None
    stats = {r.name: summary(r.values[metric]) for r in losses}
    if any(math.isnan(m) for m, _ in stats.values()):
        return None
    sign = -1 if facts.better == HIGHER else 1
    best = min(stats, key=lambda name: sign * stats[name][0])
    low, high = stats[best][0] - stats[best][1], stats[best][0] + stats[best][1]
    others = [(m - s, m + s) for name, (m, s) in stats.items() if name != best]
    return best if all(high < lo or low > hi for lo, hi in others) else None


def at_step(section: Section, step: int) -> Section:
    """The section with each row's values taken at one rollout step (1-based) of its step curves instead of over the
    whole rollout (SOL), so that its table and best marks read the same way."""
    rows = [dataclasses.replace(row, values={metric: [curve[step - 1] for curve in curves]
                                             for metric, curves in row.steps.items() if curves})
            for row in section.rows]
    return dataclasses.replace(section, rows=rows)


def as_json(section: Section) -> dict[str, Any]:
    """A section's rows as report.json stores them."""
    return {row.name: {"status": row.status, "compression": row.compression, "values": row.values}
            for row in section.rows}

