"""`fluidloss train sol` end to end on real coarse references: the corrected solver beats the plain one."""

import pytest
import torch
from torch.utils.data import DataLoader

from conftest import run_cli
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.training.checkpoint import build_model, load_checkpoint
from fluidloss_cli.engine.training.tasks import TASKS

pytestmark = pytest.mark.usefixtures("one_thread")


def val_loss(setup, model) -> float:
    """The task's unrolled loss summed over its validation windows."""
    loss = build_loss("mse")
    with torch.no_grad():
        return sum(setup.batch_loss(model, loss, batch).item() for batch in DataLoader(setup.val, batch_size=16))


def no_correction(inputs: torch.Tensor) -> torch.Tensor:
    """The plain coarse solver: a correction of zero."""
    return torch.zeros(inputs.shape[0], 2, *inputs.shape[2:])


def test_sol_on_karman_beats_the_plain_coarse_solver(karman_files, tmp_path):
    _, coarse = karman_files
    out = tmp_path / "run"
    result = run_cli("train", "sol", "--data", coarse, "--out", out, "--unroll", "2", "--epochs", "3",
                     "--batch-size", "8", "--val-split", "0.2", "--seed", "3")
    assert "sol: karman 64x32, dt 1, 2 unrolled steps" in result.output
    checkpoint = load_checkpoint(out / "best.pt")
    assert checkpoint["task"] == "sol" and checkpoint["loss"] == "mse"
    assert checkpoint["task_info"].items() >= {"scene": "karman", "resolution": [64, 32], "dt": 1.0, "unroll": 2}.items()
    assert checkpoint["model"]["config"]["in_channels"] == 5  # velocity x/y, two masks, Re; not the passive marker
    setup = TASKS["sol"](data=coarse, unroll=2, val_split=0.2, seed=3)
    trained, plain = val_loss(setup, build_model(checkpoint)), val_loss(setup, no_correction)
    assert trained < 0.9 * plain, f"SOL {trained:.3g} vs uncorrected {plain:.3g}"


def test_sol_on_buoyancy_uses_density(tmp_path):
    fine, coarse = tmp_path / "b.h5", tmp_path / "b32.h5"
    run_cli("generate", "buoyancy", "--res", "64x64", "--frames", "12", "--out", fine)
    run_cli("downsample", fine, "--res", "32x32", "--out", coarse)
    run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "run", "--unroll", "2", "--epochs", "1",
            "--batch-size", "4", "--val-split", "0.2", "--loss", "mse+0.5*mae")
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    assert checkpoint["task_info"]["fields"] == ["velocity_x", "velocity_y", "density"]
    assert checkpoint["model"]["config"]["in_channels"] == 5  # velocity x/y, density, two masks; no Re
    result = run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "long", "--unroll", "16", ok=False)
    assert result.exit_code == 2 and "--unroll 16 needs 17 frames" in result.output
    result = run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "odd", "--unroll", "3", ok=False)
    assert result.exit_code == 2 and "--unroll must be one of 1, 2, 4, 8, 16" in result.output
