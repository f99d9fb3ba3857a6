"""The study's decision rule (docs/study.md, "Decision rule"), applied by the report: each loss against MSE, on
every metric with a better direction, with model means as the unit.

A model (one loss, one training seed) contributes one value per metric: its mean over the test simulations. Models of
different losses with the same seed share their initial weights and batch order, so a loss and MSE are compared by a
paired t-test over their common seeds (Welch's t-test where fewer than two seeds are common); errors are compared as
logarithms (their ratio is the effect), correlations as differences. The p-values of a metric are Holm-adjusted over
the losses compared with MSE in one table; a loss is `better` or `worse` at an adjusted p below `LEVEL`, else `not
separated`, and where its unadjusted p is below `SPLIT_LEVEL` with fewer than `FULL_SEEDS` seeds the rule asks for
seeds up to `FULL_SEEDS` before a verdict. While any loss of a column (MSE included) has fewer models than the study
plans, every comparison of the column is `pending`: the effect and p so far are shown, no verdict is given (the rule's
seeds come first, and Holm's family is the column's every loss).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from fluidloss_cli.engine.metric_facts import HIGHER, LOWER, MetricFacts

AGAINST = "mse"
"""The loss every other loss is compared with."""
LEVEL = 0.05
"""Two-sided significance level of a verdict, after Holm's adjustment."""
SPLIT_LEVEL = 0.2
"""Unadjusted p below which a comparison without a verdict asks for more seeds."""
FULL_SEEDS = 5
"""Seeds per loss the rule asks for where 3 seeds split."""
PENDING = "pending"
"""The outcome of every comparison of a column while one of its losses has fewer models than planned."""


@dataclass(frozen=True)
class Verdict:
    """One loss against MSE on one metric."""

    outcome: str
    """better, worse, not separated, or pending (a column short of its planned seeds: no verdict yet)."""
    effect: float
    """Geometric-mean ratio loss/MSE (errors) or mean difference loss - MSE (correlations)."""
    ratio: bool
    p: float
    adjusted: float
    seeds: int
    paired: bool
    add_seeds: bool

    def text(self) -> str:
        """The report's cell: outcome, effect, adjusted p (and the unadjusted one), seeds."""
        effect = f"{self.effect:.2f}x" if self.ratio else f"{self.effect:+.3g}"
        if math.isnan(self.adjusted):
            return f"{self.outcome} {effect} (no test: {self.seeds} seed{'s' * (self.seeds != 1)})"
        more = f"; add seeds to {FULL_SEEDS}" if self.add_seeds else ""
        so_far = " so far" if self.outcome == PENDING else ""
        return (f"{self.outcome} {effect} (p {self.adjusted:.2g}{so_far}, {'paired' if self.paired else 'Welch'} "
                f"n={self.seeds}{more})")

    def to_json(self) -> dict:
        """The verdict as report.json stores it; a value no test gave (one seed) is null."""
        finite = {key: value if math.isfinite(value) else None
                  for key, value in (("effect", self.effect), ("p", self.p), ("p_holm", self.adjusted))}
        return {"outcome": self.outcome, "effect_is_ratio": self.ratio, **finite, "seeds": self.seeds,
                "paired": self.paired, "add_seeds": self.add_seeds}

    @classmethod
    def from_json(cls, stored: dict) -> "Verdict":
        """A verdict as `to_json` stored it (null values back to NaN)."""
        number = {key: math.nan if stored.get(key) is None else float(stored[key]) for key in ("effect", "p", "p_holm")}
        return cls(stored["outcome"], number["effect"], bool(stored["effect_is_ratio"]), number["p"],
                   number["p_holm"], int(stored["seeds"]), bool(stored["paired"]), bool(stored["add_seeds"]))


def model_means(values: list[float], seeds: list[int]) -> dict[int, float]:
    """Seed -> the model's mean over the test simulations, from a row's seed-major pooled values."""
    if not seeds or len(values) % len(seeds):
        return {}
    per_model = np.asarray(values, dtype=np.float64).reshape(len(seeds), -1)
    return {seed: float(np.nanmean(model)) for seed, model in zip(seeds, per_model)}


def raw_test(loss: dict[int, float], against: dict[int, float], better: str) -> tuple[float, float, int, bool, bool]:
    """(effect, p, seeds, paired, as ratio) of one loss's model means against MSE's; p is NaN where no test applies."""
    as_ratio = better == LOWER and all(v > 0 for v in (*loss.values(), *against.values()))
    transform = np.log if as_ratio else (lambda x: x)
    common = sorted(set(loss) & set(against))
    if len(common) >= 2:
        a, b = (transform(np.array([d[s] for s in common])) for d in (loss, against))
        effect, p = float(np.mean(a - b)), float(stats.ttest_rel(a, b).pvalue)
        seeds, paired = len(common), True
    else:
        a, b = (transform(np.array(list(d.values()))) for d in (loss, against))
        effect = float(np.mean(a) - np.mean(b)) if len(a) and len(b) else math.nan
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue) if min(len(a), len(b)) >= 2 else math.nan
        seeds, paired = min(len(a), len(b)), False
    return (math.exp(effect) if as_ratio else effect), p, seeds, paired, as_ratio


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN and does not count)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted, running = list(pvalues), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted


def verdicts(models: dict[str, dict[int, float]], facts: MetricFacts, planned: int = 0) -> dict[str, Verdict]:
    """Loss -> its verdict against MSE on one metric, from each loss's model means (seed -> value; empty for a loss
    none of whose models is measured yet); all `pending` while any loss has fewer than `planned` models."""
    if facts.better not in (LOWER, HIGHER) or not models.get(AGAINST):
        return {}
    losses = [loss for loss in models if loss != AGAINST and models[loss]]
    complete = all(len(by_seed) >= planned for by_seed in models.values())
    tests = [raw_test(models[loss], models[AGAINST], facts.better) for loss in losses]
    adjusted = holm([test[1] for test in tests])
    found = {}
    for loss, (effect, p, seeds, paired, ratio), p_holm in zip(losses, tests, adjusted):
        improves = (effect < (1 if ratio else 0)) == (facts.better == LOWER)
        outcome = ("better" if improves else "worse") if p_holm < LEVEL else "not separated"
        outcome = outcome if complete else PENDING
        add = outcome == "not separated" and p < SPLIT_LEVEL and seeds < FULL_SEEDS
        found[loss] = Verdict(outcome, effect, ratio, p, p_holm, seeds, paired, add)
    return found
