"""The result files that evaluation and training write and the study reads: their names, the labels of their rows,
each use case's baseline, and typed readers, written once here so that changing an output cannot silently break a
reader. A light module (no torch, no numpy); docs/architecture.md, "Result files", describes the layout.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.metric_facts import MetricFacts

ROLLOUTS_FILE = "evaluation.json"
"""`evaluate rollout`'s report, written last: its presence marks the evaluation finished."""
FRAMES_FILE = "frames.json"
"""`evaluate frames`' report, written last likewise."""
EXAMPLE_FILE = "example.npz"
"""`evaluate frames`' example: one test frame of every row (`ROW/FIELD`) and the references (`reference_GRID/FIELD`)."""
TRAINING_LOG = "metrics.jsonl"
"""A training run's log: one JSON record per epoch (epoch, train_loss, val_loss, ...)."""
BEST, LAST = "best.pt", "last.pt"
"""A training run's checkpoints: the lowest validation loss, and the end of the latest epoch (for --resume)."""
RUN_CONFIG = "config.json"
"""A training run's description: what is trained on what, written when the run starts."""

COARSE_GRID, FINE_GRID = "coarse", "fine"
"""The grids rows are compared on: the coarse reference, and the fine one (super-resolved rows)."""
REFERENCE = "reference"
"""The row of measures of the reference alone (absolute measures: divergence, energy)."""
COARSE, BICUBIC = "coarse", "bicubic"
"""Baseline rows: the uncorrected coarse solver, and bicubic upsampling of the coarse frames."""
FINE = "fine"
"""The benchmark's reference row: the fine simulation itself, timed and scored against."""


@dataclass(frozen=True)
class Baseline:
    """The row a use case's models are judged against: its label in the result files and its name in tables."""

    label: str
    title: str


BASELINES = {"sol": Baseline(COARSE, "coarse (no correction)"), "sr": Baseline(BICUBIC, BICUBIC)}
"""Task -> its baseline; an autoencoder has none (its compression ratio is reported instead)."""


def json_ready(value: Any) -> Any:
    """`value` with NaN and infinities as None, so the file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    return value


def metric_facts(stored: dict[str, dict[str, Any]]) -> dict[str, MetricFacts]:
    """The `metrics` section of a result file as facts, by name."""
    return {name: MetricFacts.from_json(name, about) for name, about in stored.items()}


def values_of(values: list[float | None]) -> list[float]:
    """Stored values (None where a value was NaN or infinite) as floats, NaN for None."""
    return [math.nan if v is None else float(v) for v in values]


@dataclass
class RowValues:
    """One row of an evaluation: per metric, per test simulation, its values (per rollout step for rollouts; the
    mean over the test frames for frame evaluations), and an autoencoder's compression ratio."""

    label: str
    per_simulation: dict[str, list[list[float]]] = field(default_factory=dict)
    compression: float | None = None


@dataclass
class EvaluationResult:
    """What an evaluation file holds for a reader: its rows by label and the facts of its metric columns."""

    rows: dict[str, RowValues]
    metrics: dict[str, MetricFacts]


def read_rollouts(folder: Path, grid: str = COARSE_GRID) -> EvaluationResult:
    """The rows of one grid of an `evaluate rollout` report in `folder`."""
    report = json.loads((folder / ROLLOUTS_FILE).read_text())
    rows = {label: RowValues(label, {metric: [values_of(s) for s in stats["per_simulation"]]
                                     for metric, stats in content["metrics"].items()})
            for label, content in report["grids"][grid]["rows"].items()}
    return EvaluationResult(rows, metric_facts(report["metrics"]))


def read_frames(folder: Path) -> EvaluationResult:
    """The rows of an `evaluate frames` report in `folder`, labelled without their grid (`fine/reference` is
    `reference`)."""
    report = json.loads((folder / FRAMES_FILE).read_text())
    rows = {label.split("/")[-1]: RowValues(label, {metric: [[v] for v in values_of(stats["per_simulation"])]
                                                    for metric, stats in content["metrics"].items()},
                                            content["compression_ratio"])
            for label, content in report["rows"].items()}
    return EvaluationResult(rows, metric_facts(report["metrics"]))


def read_training_log(run: Path) -> list[dict[str, Any]]:
    """The per-epoch records of the training run in folder `run` (none before its first epoch)."""
    log = run / TRAINING_LOG
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
