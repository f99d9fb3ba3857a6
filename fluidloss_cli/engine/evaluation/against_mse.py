"""The decision rule (docs/study.md, `engine/verdicts.py`) applied to one evaluation of several trained models: each
loss against MSE on every metric with a better direction, models of one seed paired. With it anyone can re-check a
published ranking on test data of their own: evaluate every published checkpoint at once and read the verdicts.

Each checkpoint says what it was trained with (`training`: loss and seed); a model's value of a metric is its mean
over the test simulations (a rollout's over its steps and start frames too), as in the study report. Models are
compared within their task (SR with SR, AE with AE).
"""

import math
from pathlib import Path
from typing import Any

import numpy as np

from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.metric_facts import MetricFacts
from fluidloss_cli.engine.verdicts import AGAINST, verdicts

Trained = tuple[str, str, int]
"""What a checkpoint was trained for and with: task, loss, seed."""


def trained_as(checkpoints: dict[str, Path]) -> dict[str, Trained]:
    """Row label -> the task, loss and seed of its checkpoint."""
    found = {}
    for label, path in checkpoints.items():
        checkpoint = load_checkpoint(path)
        training = checkpoint.get("training", {})
        found[label] = (str(checkpoint["task"]), str(training.get("loss")), int(training.get("seed", 0)))
    return found


def model_mean(per_simulation: list) -> float:
    """A model's value of a metric: the mean of its stored values (per simulation, or per simulation and step)."""
    values = np.asarray(per_simulation, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def judge(means: dict[str, dict[str, float]], trained: dict[str, Trained],
          facts: dict[str, MetricFacts]) -> dict[str, Any]:
    """Task -> the models compared (label -> loss, seed) and each metric's verdicts (loss -> stored verdict), from
    each row's model means (label -> metric -> value). A task without MSE and another loss has nothing to judge and
    is left out; one where two checkpoints share a loss and seed says so instead of judging."""
    found = {}
    for task in sorted({task for task, _, _ in trained.values()}):
        rows = {label: (loss, seed) for label, (kind, loss, seed) in trained.items() if kind == task}
        losses = {loss for loss, _ in rows.values()}
        if AGAINST not in losses or len(losses) < 2:
            continue
        models = {label: {"loss": loss, "seed": seed} for label, (loss, seed) in rows.items()}
        if len(set(rows.values())) < len(rows):
            found[task] = {"models": models, "why": "two checkpoints share a loss and a seed: no verdicts"}
            continue
        judged = {}
        for metric, about in facts.items():
            by_loss: dict[str, dict[int, float]] = {}
            for label, (loss, seed) in rows.items():
                value = means.get(label, {}).get(metric, math.nan)
                if math.isfinite(value):
                    by_loss.setdefault(loss, {})[seed] = value
            if verdict := verdicts(by_loss, about):
                judged[metric] = {loss: v.to_json() for loss, v in verdict.items()}
        found[task] = {"models": models, "verdicts": judged}
    return found
