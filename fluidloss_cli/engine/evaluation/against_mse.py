"""The decision rule (docs/study.md, `engine/verdicts.py`) applied to one evaluation of several trained models: each
loss against MSE on every metric with a better direction, models of one seed paired. With it anyone can re-check a
published ranking on test data of their own: evaluate every published checkpoint at once and read the verdicts.

Each checkpoint says what it was trained with (`training`: loss and seed); a model's value of a metric is its mean
over the test simulations (a rollout's over its steps and start frames too), as in the study report. Models are
compared within their task (SR with SR, AE with AE) and, where a task's models work on grids of different
resolutions (autoencoders of the coarse and of the fine test set), within each resolution.
"""

import math
from pathlib import Path
from typing import Any

import numpy as np

from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.metric_facts import MetricFacts
from fluidloss_cli.engine.verdicts import AGAINST, verdicts

Trained = tuple[str, str, int]
"""What a checkpoint was trained for and with: its family (the task, with the resolution where that task's models
work on several), loss, seed."""


def trained_as(checkpoints: dict[str, Path], resolutions: dict[str, str] | None = None) -> dict[str, Trained]:
    """Row label -> the family, loss and seed of its checkpoint; `resolutions` (row label -> the resolution it works
    on, e.g. "64x32") splits a task whose models work on several into one family per resolution ("ae at 64x32")."""
    found = {}
    for label, path in checkpoints.items():
        checkpoint = load_checkpoint(path)
        training = checkpoint.get("training", {})
        found[label] = (str(checkpoint["task"]), str(training.get("loss")), int(training.get("seed", 0)))
    if resolutions:
        spread = {task: {resolutions[label] for label, (kind, _, _) in found.items() if kind == task}
                  for task, _, _ in found.values()}
        found = {label: (f"{task} at {resolutions[label]}" if len(spread[task]) > 1 else task, loss, seed)
                 for label, (task, loss, seed) in found.items()}
    return found


def model_mean(per_simulation: list) -> float:
    """A model's value of a metric: the mean of its stored values (per simulation, or per simulation and step)."""
    values = np.asarray(per_simulation, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def judge(means: dict[str, dict[str, float]], trained: dict[str, Trained],
          facts: dict[str, MetricFacts]) -> dict[str, Any]:
    """Family (`trained_as`) -> the models compared (label -> loss, seed) and each metric's verdicts (loss -> stored
    verdict), from each row's model means (label -> metric -> value). A family without MSE and another loss has
    nothing to judge and is left out; one where two checkpoints share a loss and seed says so instead of judging."""
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
