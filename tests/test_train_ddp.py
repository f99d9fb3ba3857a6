"""`train --nproc 2`: two CPU processes (DistributedDataParallel over gloo, started by torch's launcher) follow the
loss curve of one process with the same global batch, resume its checkpoints, and fail with one clear line."""

import json
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.training import TASKS, Trainer, TrainConfig

TOLERANCE = 1e-5
"""Relative agreement of one and two processes: only the order of floating-point sums differs."""


pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    """buoyancy 16x16 (velocity and density), two seeds of 12 frames: 21 training frames at --val-split 0.125, so
    the last batch of 4 holds one frame and the second process trains a stand-in of weight 0 there."""
    path = tmp_path_factory.mktemp("ddp_data") / "b.h5"
    run_cli("generate", "buoyancy", "--res", "16x16", "--seed", "0", "1", "--frames", "12", "--out", path)
    return path


@pytest.fixture(scope="module")
def one_process(frames, tmp_path_factory) -> Path:
    """The reference: the run in one process."""
    run = tmp_path_factory.mktemp("ddp_reference") / "run"
    run_cli(*ae_args(frames, run))
    return run


def ae_args(data: Path, out: Path, *extra: str) -> list:
    """A small `train ae` command line: 3 epochs, global batch 4, CPU."""
    return ["train", "ae", "--data", data, "--out", out, "--latent", "4", "--width", "8", "--epochs", "3",
            "--batch-size", "4", "--val-split", "0.125", "--device", "cpu", *extra]


def curve(run: Path) -> dict[int, tuple[float, float]]:
    """Epoch -> (train loss, validation loss) from a run's metrics.jsonl."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {line["epoch"]: (line["train_loss"], line["val_loss"]) for line in lines}


def assert_same_curve(run: Path, reference: Path) -> None:
    """Equal epochs and losses within TOLERANCE, and final weights within it too."""
    ours, theirs = curve(run), curve(reference)
    assert list(ours) == list(theirs) == [1, 2, 3]
    for epoch in ours:
        assert ours[epoch] == pytest.approx(theirs[epoch], rel=TOLERANCE), f"epoch {epoch}"
    trained, expected = (load_checkpoint(r / "last.pt")["model"]["state"] for r in (run, reference))
    assert trained.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(trained[name], expected[name], rtol=TOLERANCE, atol=TOLERANCE)


def test_two_processes_follow_the_loss_curve_of_one(frames, one_process, tmp_path, capfd):
    run = tmp_path / "run"
    run_cli(*ae_args(frames, run, "--nproc", "2"))
    assert_same_curve(run, one_process)
    printed = " ".join(capfd.readouterr().err.split())  # what the processes printed (rank 0 alone)
    assert printed.count("21 training and 3 validation frames") == 1 and printed.count("epoch 3:") == 1
    assert "--nproc 2" in load_checkpoint(run / "last.pt")["provenance"]["command"]


def test_two_processes_resume_a_run_and_refuse_one_they_must_not_replace(frames, one_process, tmp_path, capfd):
    """A run interrupted after its first epoch (Ctrl-C, as the callback raises it) is finished by two processes."""
    run = tmp_path / "run"
    setup = TASKS["ae"](data=frames, val_split=0.125, latent=4, width=8)

    def interrupt(record: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(setup, TrainConfig(epochs=3, batch_size=4), run, torch.device("cpu")).fit(on_epoch=interrupt)
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    capfd.readouterr()

    result = run_cli(*ae_args(frames, run, "--nproc", "2"), ok=False)
    assert result.exit_code == 2
    printed = (result.output + capfd.readouterr().err).strip()  # refused before the processes start
    assert printed.startswith("error: ") and "\n" not in printed and "already holds a run" in printed, printed

    run_cli(*ae_args(frames, run, "--nproc", "2", "--resume"))
    assert "resuming after epoch 1" in " ".join(capfd.readouterr().err.split())
    assert_same_curve(run, one_process)


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "5"], "--batch-size 5 does not divide among 2 processes"),
    (["--nproc", "0"], "--nproc must be at least 1, got 0"),
])
def test_a_batch_or_process_count_that_cannot_work_is_one_clear_line(frames, tmp_path, extra, message):
    result = run_cli(*ae_args(frames, tmp_path / "run", "--nproc", "2", *extra), ok=False)
    printed = result.output.strip()
    assert result.exit_code == 2 and printed.startswith(f"error: {message}") and "\n" not in printed, printed
    assert not (tmp_path / "run").exists()
