"""How far test data lies from training data (engine/data/novelty.py, `evaluate rollout --train`) and the mass balance
measure, on real small datasets made by the CLI, checked against the evaluation's own MSE loss and against the stored
density and source."""

import csv
import json
import re
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli, spacing

from fluidloss_cli.engine.data.novelty import novelty
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.metrics import loss_per_sample
from fluidloss_cli.engine.scenes.buoyancy import INFLOW_RATE

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16, 10 frames: training Re 1e5 and 4e5 (seed 0), test Re 2e5 (seed 3), one at 16x8; buoyancy 32x32
    of 30 frames and its 16x16 downsampling."""
    folder = tmp_path_factory.mktemp("novelty")
    d = SimpleNamespace(train=folder / "train.h5", test=folder / "test.h5", small=folder / "train16.h5",
                        plume=folder / "plume.h5", plume16=folder / "plume16.h5")
    common = ["--res", "32x16", "--warmup", "0", "--frames", "10"]
    run_cli("generate", "karman", *common, "--re", "1e5", "4e5", "--seed", "0", "--out", d.train)
    run_cli("generate", "karman", *common, "--re", "2e5", "--seed", "3", "--out", d.test)
    run_cli("downsample", d.train, "--res", "16x8", "--out", d.small)
    run_cli("generate", "buoyancy", "--res", "32x32", "--frames", "30", "--out", d.plume)  # 16x16 has no source cell
    run_cli("downsample", d.plume, "--res", "16x16", "--out", d.plume16)  # the averaged source keeps its area
    return d


def frames(path, sim: str) -> dict[str, torch.Tensor]:
    """Every stored frame of a simulation, [F, ...] per field."""
    windows = FrameWindows(path, window=1, simulations=[sim])
    return {name: torch.cat([windows[i][name] for i in range(len(windows))]) for name in windows.fields}


def test_a_dataset_is_at_distance_zero_from_itself(data):
    for item in novelty(data.train, data.train):
        assert item.nearest_trajectory == 0 and item.nearest_frame == 0 and item.nearest_simulation == item.simulation
        assert item.energy > 0


def test_held_out_data_is_at_the_distance_the_evaluation_mse_measures(data):
    """The nearest trajectory is the training simulation with the least frame-aligned `mse` (the registry loss,
    per frame as `evaluate` applies it); the nearest frame is no farther, and both are positive and finite."""
    (item,) = novelty(data.test, data.train, stride=1)

    def velocity(path, sim: str) -> dict[str, torch.Tensor]:  # Karman's passive marker is not scored
        return {name: value for name, value in frames(path, sim).items() if name != "density"}

    mse, test = build_loss("mse", torch.device("cpu")), velocity(data.test, "sim_0000")
    aligned = {sim: loss_per_sample(mse, velocity(data.train, sim), test, None).mean().item()
               for sim in ("sim_0000", "sim_0001")}
    nearest = min(aligned, key=aligned.get)
    assert (item.reynolds, item.seed, item.nearest_simulation) == (2e5, 3, nearest)
    assert item.nearest_reynolds == {"sim_0000": 1e5, "sim_0001": 4e5}[nearest] and item.nearest_seed == 0
    assert item.nearest_trajectory == pytest.approx(aligned[nearest], rel=1e-5)  # the loss sums in float32
    assert 0 < item.nearest_frame <= item.nearest_trajectory < item.energy and np.isfinite(item.energy)


def test_evaluate_rollout_reports_the_distances_beside_the_coarse_error(data, tmp_path):
    result = run_cli("evaluate", "rollout", "--data", data.test, "--train", data.train, "--metrics", "mse",
                     "--steps", "3", "--out", tmp_path)
    assert "test vs training data" in result.output and "nearest training frame" in result.output
    report = json.loads((tmp_path / "evaluation.json").read_text())
    (record,) = report["novelty"]["simulations"]
    baseline = report["grids"]["coarse"]["rows"]["coarse"]["metrics"]["mse"]["per_simulation"][0]
    assert record["coarse_error"] == pytest.approx(np.mean(baseline), rel=1e-12)
    (line,) = csv.DictReader((tmp_path / "novelty.csv").open())
    assert float(line["nearest_frame"]) == pytest.approx(record["nearest_frame"]) and line["seed"] == "3"
    assert f"{record['nearest_frame']:.3g}" in result.output


def test_training_data_of_another_grid_is_one_line(data, tmp_path):
    result = run_cli("evaluate", "rollout", "--data", data.test, "--train", data.small, "--out", tmp_path, ok=False)
    assert_one_line_error(result, "resolution")


def test_mass_balance_against_the_stored_density_and_source(data, tmp_path):
    """From start frame 5, step k: (mass(5 + k) - mass(5) - k x rate x dt x source mass) / (mass(5) + injected),
    computed here from the stored density and inflow mask; frames and pairs from the first stored frame; karman,
    whose marker leaves the box, has none."""
    run_cli("evaluate", "rollout", "--data", data.plume, "--start", "5", "--steps", "20", "--metrics",
            "mass_balance", "--out", tmp_path / "plume")
    report = json.loads((tmp_path / "plume" / "evaluation.json").read_text())
    measured = report["grids"]["coarse"]["rows"]["reference"]["metrics"]["mass_balance"]["per_simulation"][0]
    with h5py.File(data.plume) as handle:
        dy, dx = spacing(handle)
        masses = handle["sim_0000/density"][()].astype(np.float64).sum(axis=(1, 2)) * dy * dx
        per_step = handle["sim_0000/inflow_mask"][()].astype(np.float64).sum() * dy * dx * INFLOW_RATE * \
            float(handle.attrs["dt"])
    expected = [(masses[5 + k] - masses[5] - k * per_step) / (masses[5] + k * per_step) for k in range(1, 21)]
    np.testing.assert_allclose(measured, expected, rtol=1e-6, atol=1e-9)
    pair = run_cli("evaluate", "pair", f"{data.plume}:0:5", f"{data.plume}:0:25", "--metric", "mass_balance")
    a, b = map(float, re.fullmatch(r"mass_balance A (\S+) B (\S+)\s*", pair.output).groups())
    assert a == pytest.approx((masses[5] - 5 * per_step) / (5 * per_step), abs=1e-6)
    assert b == pytest.approx((masses[25] - 25 * per_step) / (25 * per_step), abs=1e-6)
    run_cli("evaluate", "frames", "--data", data.plume16, "--fine", data.plume, "--start", "5", "--stride", "10",
            "--metrics", "mass_balance", "--out", tmp_path / "frames")
    rows = json.loads((tmp_path / "frames" / "frames.json").read_text())["rows"]
    from_start = np.mean([(masses[f] - f * per_step) / (f * per_step) for f in (5, 15, 25)])
    for grid in ("data", "fine"):
        values = rows[f"{grid}/reference"]["metrics"]["mass_balance"]["per_simulation"]
        assert values == [pytest.approx(from_start, abs=1e-7)]  # float32 densities
    run_cli("evaluate", "rollout", "--data", data.test, "--steps", "2", "--metrics", "mass_balance",
            "--out", tmp_path / "karman")
    karman = json.loads((tmp_path / "karman" / "evaluation.json").read_text())
    assert karman["grids"]["coarse"]["rows"]["coarse"]["metrics"]["mass_balance"]["mean"] is None
