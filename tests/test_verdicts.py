"""The decision rule of the study report (docs/study.md): paired t-tests of model means against MSE, Holm's
adjustment, verdicts by direction, and when the rule asks for more seeds; checked against scipy and by hand."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from fluidloss_cli.engine.metric_facts import MEASURES, facts_of
from fluidloss_cli.engine.verdicts import holm, model_means, raw_test, verdicts

MSE = {0: 1.0e-3, 1: 2.0e-3, 2: 1.5e-3}


def test_holm_adjusts_step_down_and_keeps_the_order_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, math.nan, 0.01]) == pytest.approx([0.5, math.nan, 0.02], nan_ok=True)


def test_model_means_split_seed_major_values_into_one_mean_per_model():
    assert model_means([1.0, 3.0, 10.0, 20.0], [0, 2]) == {0: 2.0, 2: 15.0}
    assert model_means([1.0, 2.0, 3.0], [0, 1]) == {}


def test_an_error_twice_mse_on_every_seed_is_worse_with_its_ratio_and_the_paired_p():
    lsim = {0: 2.1e-3, 1: 3.8e-3, 2: 3.1e-3}
    found = verdicts({"mse": MSE, "lsim": lsim}, facts_of("mse"))["lsim"]
    a, b = np.log([lsim[s] for s in (0, 1, 2)]), np.log([MSE[s] for s in (0, 1, 2)])
    assert found.outcome == "worse" and found.paired and found.seeds == 3
    assert found.p == pytest.approx(stats.ttest_rel(a, b).pvalue) and found.adjusted == found.p
    assert found.effect == pytest.approx(math.exp(np.mean(a - b)))
    assert found.text().startswith("worse 2.0")


def test_a_lower_error_is_better_and_a_higher_correlation_is_better():
    assert verdicts({"mse": MSE, "mae": {s: v / 2.05 for s, v in MSE.items()} | {1: 1.0e-3}},
                    facts_of("mae"))["mae"].outcome == "better"
    vorticity = {"mse": {0: 0.90, 1: 0.91, 2: 0.89}, "mae": {0: 0.95, 1: 0.965, 2: 0.94}}
    found = verdicts(vorticity, MEASURES["vorticity"])["mae"]
    assert found.outcome == "better" and not found.ratio and found.effect == pytest.approx(0.155 / 3)


def test_holm_counts_every_loss_of_the_column():
    worse = {0: 2.1e-3, 1: 3.8e-3, 2: 3.1e-3}
    alone = verdicts({"mse": MSE, "lsim": worse}, facts_of("mse"))["lsim"]
    family = verdicts({"mse": MSE, "lsim": worse, "mae": {0: 1.1e-3, 1: 1.9e-3, 2: 1.6e-3}, "vgg": {0: 1e-3, 1: 2.2e-3, 2: 1.4e-3}},
                      facts_of("mse"))["lsim"]
    assert family.p == alone.p and family.adjusted == pytest.approx(min(1.0, 3 * alone.p))


def test_a_split_of_three_seeds_asks_for_five_and_a_clear_tie_does_not():
    split = verdicts({"mse": MSE, "lsim": {0: 1.6e-3, 1: 2.2e-3, 2: 3.5e-3}}, facts_of("mse"))["lsim"]
    assert split.outcome == "not separated" and 0.05 < split.p < 0.2 and split.add_seeds
    assert "add seeds to 5" in split.text()
    tie = verdicts({"mse": MSE, "lsim": {0: 1.2e-3, 1: 1.7e-3, 2: 1.6e-3}}, facts_of("mse"))["lsim"]
    assert tie.outcome == "not separated" and not tie.add_seeds


def test_models_without_common_seeds_are_compared_unpaired_and_one_model_gets_no_test():
    effect, p, seeds, paired, ratio = raw_test({3: 2e-3, 4: 2.2e-3}, MSE, "lower")
    assert not paired and seeds == 2 and ratio
    assert p == pytest.approx(stats.ttest_ind(np.log([2e-3, 2.2e-3]), np.log(list(MSE.values())), equal_var=False).pvalue)
    single = verdicts({"mse": {0: 1e-3}, "lsim": {0: 5e-3}}, facts_of("mse"))["lsim"]
    assert single.outcome == "not separated" and "no test: 1 seed" in single.text()
    stored = json.loads(json.dumps(single.to_json(), allow_nan=False))  # as report.json writes it
    assert stored["p"] is None and stored["p_holm"] is None and stored["effect"] == pytest.approx(5.0)


def test_divergence_is_an_error_and_energy_has_no_verdict():
    assert MEASURES["divergence"].is_error
    assert verdicts({"mse": MSE, "mae": MSE}, MEASURES["energy"]) == {}


def test_a_comparison_short_of_the_planned_seeds_is_pending_however_clear_it_looks():
    mae = {0: 0.49e-3, 1: 1.0e-3}  # half of MSE's error on both seeds so far: a paired test of 2 would say better
    two = {"mse": {0: 1.0e-3, 1: 2.02e-3}, "mae": mae}
    assert verdicts(two, facts_of("mae"))["mae"].outcome == "better"
    pending = verdicts(two, facts_of("mae"), planned=3)["mae"]
    assert pending.outcome == "pending" and not pending.add_seeds and pending.seeds == 2
    assert pending.text().startswith("pending 0.49x") and "so far" in pending.text()
    mse_short = verdicts({"mse": two["mse"], "mae": mae | {2: 0.74e-3}}, facts_of("mae"), planned=3)["mae"]
    assert mse_short.outcome == "pending"  # MSE's third seed is missing
    full = {"mse": MSE, "mae": {0: 0.49e-3, 1: 1.0e-3, 2: 0.74e-3}}
    assert verdicts(full, facts_of("mae"), planned=3)["mae"].outcome == "better"
    # Holm's family is the column's every loss: one still short of its seeds (or not started) keeps the column pending
    assert verdicts(full | {"lsim": {0: 2e-3}}, facts_of("mae"), planned=3)["mae"].outcome == "pending"
    assert set(verdicts(full | {"lsim": {}}, facts_of("mae"), planned=3)) == {"mae"}
    assert verdicts(full | {"lsim": {}}, facts_of("mae"), planned=3)["mae"].outcome == "pending"
    assert verdicts({"mse": {}, "mae": full["mae"]}, facts_of("mae"), planned=3) == {}
