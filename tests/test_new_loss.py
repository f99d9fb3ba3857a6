"""The loss contract, proved from outside the package: a loss defined in this file alone (a Huber loss), registered
with one call, trains SOL, is a metric column of `evaluate rollout`, and is a loss a study config accepts, with no
module of the package edited."""

import json

import pytest
import torch

from conftest import assert_one_line_error, run_cli
from studies import small_config
from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.loss_names import LOSS_CLASSES, register_loss, unregister_loss
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.losses.base import FieldLoss

pytestmark = pytest.mark.usefixtures("one_thread")


class HuberLoss(FieldLoss):
    """Smooth L1 per field: quadratic below `delta`, linear above."""

    def __init__(self, delta: float = 1e-3) -> None:
        super().__init__()
        self.delta = delta

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.huber_loss(pred, ref, reduction="none", delta=self.delta).mean(dim=(1, 2, 3))


@pytest.fixture
def huber():
    """`huber` registered for the test, forgotten after it."""
    register_loss("huber", HuberLoss, 1e-3)
    yield
    unregister_loss("huber")


def test_a_loss_defined_outside_the_package_trains_and_evaluates(huber, karman_files, tmp_path):
    _, coarse = karman_files
    run = tmp_path / "run"
    run_cli("train", "sol", "--data", coarse, "--width", "8", "--blocks", "1", "--epochs", "1", "--batch-size", "8",
            "--loss", "mse+2*huber", "--out", run)
    checkpoint = load_checkpoint(run / "best.pt")
    assert checkpoint["loss"] == "mse+2*huber" and checkpoint["epoch"] == 1
    pred, ref = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    expected = torch.nn.functional.mse_loss(pred, ref) + 2 * torch.nn.functional.huber_loss(pred, ref, delta=1e-3)
    assert build_loss("mse+2*huber")(pred, ref).item() == pytest.approx(expected.item(), rel=1e-5)
    run_cli("evaluate", "rollout", "--data", coarse, "--sol", run / "best.pt", "--steps", "3", "--metrics", "mse,huber",
            "--out", tmp_path / "evaluation")
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    metrics = report["grids"]["coarse"]["rows"]["run"]["metrics"]
    assert set(metrics) == {"mse", "huber"} and report["metrics"]["huber"]["better"] == "lower"


def test_a_study_config_accepts_a_registered_loss_and_refuses_it_unregistered(huber, tmp_path):
    from fluidloss_cli.engine.study.config import parse_config

    text = small_config("[tasks.sol]\n", name="h", losses=("mse", "huber"), seeds=(0, 1, 2), batch_size=2, frames=12)
    assert parse_config(text).losses == ("mse", "huber")
    unregister_loss("huber")
    assert "huber" not in LOSS_CLASSES
    assert_one_line_error(run_cli("train", "sol", "--data", tmp_path / "d.h5", "--loss", "huber", "--out", tmp_path / "r",
                                  ok=False), "unknown loss 'huber'")


def test_a_loss_name_is_registered_once_and_lower_case():
    from fluidloss_cli.engine.errors import FluidlossError

    for name in ("mse", "Huber", "two words"):
        with pytest.raises(FluidlossError, match="already registered, or not a lower-case name"):
            register_loss(name, HuberLoss)
