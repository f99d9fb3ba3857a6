"""The model contract, proved from outside the package: a super-resolution network defined in this file alone,
registered with one call, trains with `train sr --model`, is rebuilt from its checkpoint by `evaluate frames`, and
is a model a study trains and evaluates in its own processes (FLUIDLOSS_PLUGINS loads this file's `register` there),
with no module of the package edited."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import assert_one_line_error, run_cli
from studies import small_config
from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.model_names import register_model, unregister_model

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]


class NearestSR(nn.Module):
    """Nearest-neighbour enlargement, then two 3x3 convolutions; the last starts at zero, so the untrained network's
    fine frame is the bicubic baseline (the residual contract of an SR model)."""

    def __init__(self, in_channels: int, out_channels: int, factor: int, width: int = 8):
        super().__init__()
        self.enlarge = nn.Upsample(scale_factor=factor, mode="nearest")
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, out_channels, 3, padding=1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.enlarge(x))


def register() -> None:
    """The plugin hook (FLUIDLOSS_PLUGINS=test_new_model:register): `nearest-sr`, an SR model taking `--width`."""
    register_model("nearest-sr", NearestSR, "sr", ("width",))


@pytest.fixture
def nearest_sr():
    """`nearest-sr` registered for the test, forgotten after it."""
    register()
    yield
    unregister_model("nearest-sr")


def test_a_model_defined_outside_the_package_trains_and_evaluates(nearest_sr, karman_files, tmp_path):
    fine, coarse = karman_files
    run = tmp_path / "run"
    run_cli("train", "sr", "--coarse", coarse, "--fine", fine, "--model", "nearest-sr", "--width", "4", "--epochs", "1",
            "--batch-size", "16", "--out", run)
    checkpoint = load_checkpoint(run / "best.pt")
    assert checkpoint["model"]["name"] == "nearest-sr" and checkpoint["task_options"]["model"] == "nearest-sr"
    assert checkpoint["model"]["config"] == {"in_channels": 3, "out_channels": 3, "factor": 2, "width": 4}  # velocity, marker
    run_cli("evaluate", "frames", "--data", coarse, "--fine", fine, "--sr", run / "best.pt", "--metrics", "mse",
            "--stride", "10", "--out", tmp_path / "evaluation")
    rows = json.loads((tmp_path / "evaluation" / "frames.json").read_text())["rows"]
    assert rows["run"]["metrics"]["mse"]["mean"] < rows["bicubic"]["metrics"]["mse"]["mean"]


def test_a_model_name_is_checked_against_the_task_before_any_work(nearest_sr, tmp_path):
    missing = tmp_path / "missing.h5"
    assert_one_line_error(run_cli("train", "sr", "--coarse", missing, "--fine", missing, "--model", "unet", "--out",
                                  tmp_path / "r", ok=False), "--model 'unet': not a model of task sr; known: sr, nearest-sr")
    assert_one_line_error(run_cli("train", "sol", "--data", missing, "--model", "nearest-sr", "--out", tmp_path / "r",
                                  ok=False), "--model 'nearest-sr': not a model of task sol; known: sol")


STUDY = small_config('[tasks.sr]\nmodel = "nearest-sr"\nwidth = 4\nstride = 3\n', name="plugin")


def test_a_study_trains_and_evaluates_a_plugin_model_in_its_own_processes(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text(STUDY)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
               FLUIDLOSS_PLUGINS="test_new_model:register", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "fluidloss_cli", "study", "run", config, "--out", tmp_path / "out"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    cell = tmp_path / "out" / "cells" / "train" / "sr" / "karman" / "mse" / "seed0"
    assert load_checkpoint(cell / "run" / "best.pt")["model"]["name"] == "nearest-sr"
    assert "--model nearest-sr" in json.loads((cell / "result.json").read_text())["command"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "mse" in json.dumps(report) and (tmp_path / "out" / "report.md").exists()
    bad = subprocess.run([sys.executable, "-m", "fluidloss_cli", "study", "plan", config], capture_output=True,
                         text=True, env=dict(env, FLUIDLOSS_PLUGINS="no_such_module"), timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: FLUIDLOSS_PLUGINS: cannot import")
