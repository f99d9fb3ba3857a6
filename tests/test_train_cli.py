"""`train sr` and `train ae` end to end on tiny real datasets: files, checkpoints, learning, determinism, resume,
and one clear line for every kind of bad input."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import pytest
import torch
from conftest import assert_one_line_error, run_cli
from torch.utils.data import default_collate

from fluidloss_cli.engine.checkpoints import build_model, load_checkpoint
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.models.autoencoder import Autoencoder
from fluidloss_cli.engine.training import TASKS, Trainer, TrainConfig
from fluidloss_cli.engine.training.data import PairedFrames
from fluidloss_cli.engine.training.tasks.sr import sr_loss

EPOCHS = 4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16 (Re 1e5, 2e5; 12 frames each), its 16x8 downsampling, and 16x8 frames of other simulations."""
    folder = tmp_path_factory.mktemp("train_data")
    fine, coarse, other = folder / "k.h5", folder / "k16.h5", folder / "other16.h5"
    run_cli("generate", "karman", "--res", "32x16", "--re", "1e5", "2e5", "--warmup", "0", "--frames", "12", "--out", fine)
    run_cli("downsample", fine, "--res", "16x8", "--out", coarse)
    run_cli("generate", "karman", "--res", "16x8", "--re", "3e5", "4e5", "--warmup", "0", "--frames", "3", "--out", other)
    return SimpleNamespace(fine=fine, coarse=coarse, other=other)


def sr_args(data: SimpleNamespace, out: Path, *extra: str, epochs: int = EPOCHS) -> list:
    """A small, fast `train sr` command line (width 8, one block, batch 4, CPU)."""
    return ["train", "sr", "--coarse", data.coarse, "--fine", data.fine, "--out", out, "--width", "8", "--blocks", "1",
            "--batch-size", "4", "--epochs", str(epochs), "--device", "cpu", *extra]


def text(result) -> str:
    """A command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def metrics(run: Path) -> list[dict]:
    """The lines of a run's metrics.jsonl."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(path: Path) -> dict[str, torch.Tensor]:
    """The model state dict of a checkpoint."""
    return load_checkpoint(path)["model"]["state"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bit-identical state dicts."""
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def test_sr_trains_and_checkpoints_everything(data, tmp_path):
    run = tmp_path / "sr"
    output = text(run_cli(*sr_args(data, run)))
    assert "sr x2: karman 16x8 -> 32x16" in output and "22 training and 2 validation frames" in output
    assert {p.name for p in run.iterdir()} == {"last.pt", "best.pt", "metrics.jsonl", "config.json", "tensorboard"}

    lines = metrics(run)
    assert [line["epoch"] for line in lines] == list(range(1, EPOCHS + 1))
    assert lines[-1]["train_loss"] < 0.9 * lines[0]["train_loss"]
    last, best = load_checkpoint(run / "last.pt"), load_checkpoint(run / "best.pt")
    assert last["epoch"] == EPOCHS and best["epoch"] == best["best_epoch"] == last["best_epoch"]
    assert best["val_loss"] == min(line["val_loss"] for line in lines) == last["best_val_loss"]

    assert last["task"] == "sr" and last["loss"] == "mse" and last["task_info"]["factor"] == 2
    assert last["model"]["name"] == "sr"
    assert last["model"]["config"] == dict(in_channels=3, out_channels=3, factor=2, width=8, blocks=1)  # velocity x/y, marker
    assert last["training"] == dict(loss="mse", epochs=EPOCHS, batch_size=4, lr=1e-3, seed=0, amp="off",
                                    compile=False, lr_schedule="cosine", patience=0)
    config = json.loads((run / "config.json").read_text())
    for role, path in (("coarse", data.coarse), ("fine", data.fine)):
        identity = last["datasets"][role]
        assert identity["path"] == str(path.resolve()) and len(identity["sha256"]) == 64
        assert identity["sha256"] == config["datasets"][role]["sha256"]
    assert last["datasets"]["coarse"]["sha256"] != last["datasets"]["fine"]["sha256"]
    assert torch.__version__.startswith(last["provenance"]["torch"]) and "train sr" in last["provenance"]["command"]

    # the trained network beats an untrained one, which is exactly bicubic upsampling (its output layer is zero)
    frames = default_collate([item for item in PairedFrames(data.coarse, data.fine)])
    mse = build_loss("mse")
    torch.manual_seed(0)
    untrained = model_class("sr")(**last["model"]["config"]).eval()
    with torch.no_grad():
        trained, bicubic = sr_loss(build_model(best), mse, frames), sr_loss(untrained, mse, frames)
        assert trained < 0.9 * bicubic, f"sr {trained:.4g} vs bicubic {bicubic:.4g}"


def test_ae_reports_compression_and_exports_encoder_and_decoder(data, tmp_path):
    run = tmp_path / "ae"
    output = text(run_cli("train", "ae", "--data", data.fine, "--out", run, "--latent", "4", "--width", "8",
                          "--epochs", "2", "--batch-size", "4", "--device", "cpu"))
    with h5py.File(data.fine) as handle:
        values = sum(handle["sim_0000"][name].shape[1] * handle["sim_0000"][name].shape[2]
                     for name in ("velocity_x", "velocity_y", "density"))  # karman stores its marker
    latent = 4 * math.ceil(33 / 4) * math.ceil(17 / 4)  # the 33x17 face grid, halved twice
    assert f"compression ratio {values / latent:.2f}" in output
    assert "22 training and 2 validation frames" in output  # every frame of both simulations

    checkpoint = load_checkpoint(run / "last.pt")
    assert checkpoint["task_info"]["compression_ratio"] == pytest.approx(values / latent)
    model = build_model(checkpoint)
    encoder, decoder = Autoencoder(**checkpoint["model"]["config"]), Autoencoder(**checkpoint["model"]["config"])
    encoder.encoder.load_state_dict(checkpoint["parts"]["encoder"])
    decoder.decoder.load_state_dict(checkpoint["parts"]["decoder"])
    x = torch.randn(3, 3, 33, 17)  # velocity x/y and the marker on the face grid
    with torch.no_grad():
        latent_grid = encoder.encode(x)
        assert latent_grid.shape == (3, 4, 9, 5)
        # build_model stores the weights channels-last: the same network to float32 round-off
        torch.testing.assert_close(decoder.decode(latent_grid, 33, 17), model(x), rtol=1e-5, atol=1e-6)


def test_patience_stops_a_run_whose_validation_no_longer_improves_and_a_resume_keeps_it_stopped(data, tmp_path):
    """At a learning rate of 1e-30 the weights (and so the validation loss) stay as they are: epoch 1 is the best,
    epoch 2 no better, and with --patience 1 the run ends there, of 5 epochs asked for."""
    run = tmp_path / "ae"
    args = ["train", "ae", "--data", data.fine, "--out", run, "--latent", "4", "--width", "8", "--epochs", "5",
            "--batch-size", "4", "--device", "cpu", "--lr", "1e-30", "--lr-schedule", "constant", "--patience", "1"]
    output = text(run_cli(*args))
    assert [r["epoch"] for r in metrics(run)] == [1, 2] and metrics(run)[1]["val_loss"] == metrics(run)[0]["val_loss"]
    assert "stopped after epoch 2: no better validation loss for 1 epochs (--patience)" in output
    assert "(epoch 1 of 2)" in output and load_checkpoint(run / "best.pt")["epoch"] == 1
    resumed = text(run_cli(*args, "--resume"))
    assert len(metrics(run)) == 2 and "stopped after epoch 2" in resumed
    without = tmp_path / "without"
    run_cli(*[str(a) for a in args[:-2]], "--epochs", "3", "--out", without)  # the default, 0: every epoch
    assert [r["epoch"] for r in metrics(without)] == [1, 2, 3]


def test_same_seed_gives_bit_identical_weights(data, tmp_path):
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        run_cli(*sr_args(data, tmp_path / name, "--seed", seed, epochs=2))
    assert_same_weights(weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt"))
    other = weights(tmp_path / "c" / "last.pt")
    assert not torch.equal(weights(tmp_path / "a" / "last.pt")["stem.weight"], other["stem.weight"])


ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""The thread counts of every run a bit-for-bit comparison makes, whatever the environment exports: a sum over 2 threads
rounds differently than over 1, so runs on different counts need not agree to the last bit."""


def train_process(*args: str, **popen) -> subprocess.Popen:
    """`fluidloss train ARGS` in a process of its own, on one thread whatever OMP_NUM_THREADS the caller exported."""
    return subprocess.Popen([sys.executable, "-m", "fluidloss_cli", *args], env={**os.environ, **ONE_THREAD}, **popen)


def train_to_end(*args: str) -> str:
    """Run `fluidloss train ARGS` on one thread to its end (asserted successful); its output, rich's wrapping undone."""
    process = train_process(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.communicate(timeout=600)[0].decode()
    assert process.returncode == 0, output
    return " ".join(output.split())


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(data, tmp_path):
    epochs = 40  # an epoch takes milliseconds: enough of them that the interrupt lands while the run goes on
    reference, run = tmp_path / "reference", tmp_path / "interrupted"
    train_to_end(*map(str, sr_args(data, reference, epochs=epochs)))

    args = [str(a) for a in sr_args(data, run, epochs=epochs)]
    process = train_process(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (run / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    # the state to interrupt: an epoch checkpointed, the run still going (not a moment on the clock)
    assert (run / "last.pt").exists() and process.poll() is None, \
        "the run ended (or never checkpointed an epoch) before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1].decode()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr and "--resume" in stderr
    done = load_checkpoint(run / "last.pt")["epoch"]
    assert 1 <= done < epochs, "the run was not interrupted"
    assert [line["epoch"] for line in metrics(run)] == list(range(1, done + 1))

    assert f"resuming after epoch {done}" in train_to_end(*args, "--resume")
    assert_same_weights(weights(run / "last.pt"), weights(reference / "last.pt"))
    assert_same_weights(weights(run / "best.pt"), weights(reference / "best.pt"))
    for resumed, uninterrupted in zip(metrics(run), metrics(reference), strict=True):
        assert (resumed["epoch"], resumed["train_loss"], resumed["val_loss"]) == \
            (uninterrupted["epoch"], uninterrupted["train_loss"], uninterrupted["val_loss"])


@pytest.mark.parametrize("extra, fragments", [
    (["--loss", "msee"], ["unknown loss 'msee'"]),
    (["--batch-size", "64"], ["--batch-size 64 is larger than the 22 training samples"]),
    (["--lr", "-1"], ["--lr must be positive"]),
    (["--val-split", "1.5"], ["--val-split must be between 0 and 1, got 1.5"]),
    (["--amp", "fp16"], ["--amp 'fp16': expected one of off, bf16"]),
    (["--compile"], ["--compile is CUDA-only"]),
    (["--val-coarse", "{coarse}"], ["--val-coarse and --val-fine go together"]),
    (["--coarse", "{other}"], ["hold different simulations"]),
    (["--coarse", "{fine}", "--fine", "{coarse}"], ["resolution ratio must be one of 2, 4"]),
    (["--coarse", "missing.h5"], ["missing.h5: no such file"]),
    (["--resume", "--overwrite"], ["--resume and --overwrite exclude each other"]),
])
def test_bad_input_is_one_clear_line(data, tmp_path, monkeypatch, extra, fragments):
    monkeypatch.chdir(tmp_path)
    extra = [arg.format(**vars(data)) for arg in extra]
    assert_one_line_error(run_cli(*sr_args(data, tmp_path / "run", *extra), ok=False), *fragments)
    assert not (tmp_path / "run").exists()


def test_a_run_directory_is_resumed_or_overwritten_only_when_asked_and_with_the_same_options(data, tmp_path):
    run = tmp_path / "run"
    assert_one_line_error(run_cli(*sr_args(data, run, "--resume", epochs=2), ok=False), "holds no run to continue")
    run_cli(*sr_args(data, run, epochs=2))
    before = (run / "last.pt").read_bytes()

    assert_one_line_error(run_cli(*sr_args(data, run, epochs=2), ok=False), "already holds a run", "--resume",
                          "--overwrite")
    assert_one_line_error(run_cli(*sr_args(data, run, "--resume", epochs=3), ok=False), "(epochs differ)")
    assert_one_line_error(run_cli(*sr_args(data, run, "--resume", "--lr", "0.01", "--width", "16", epochs=2),
                                  ok=False), "(width, lr differ)")
    assert_one_line_error(run_cli("train", "ae", "--data", data.fine, "--out", run, "--device", "cpu", "--resume",
                                  ok=False), "checkpoint of task 'sr'", "train ae --resume")
    assert (run / "last.pt").read_bytes() == before and len(metrics(run)) == 2

    assert "resuming after epoch 2" in text(run_cli(*sr_args(data, run, "--resume", epochs=2)))  # finished: a no-op
    assert (run / "last.pt").read_bytes() == before and len(metrics(run)) == 2
    run_cli(*sr_args(data, run, "--overwrite", "--seed", "1", epochs=1))
    assert [line["epoch"] for line in metrics(run)] == [1] and load_checkpoint(run / "last.pt")["training"]["seed"] == 1


def test_exploding_loss_stops_with_one_line_and_no_checkpoint(data, tmp_path):
    run = tmp_path / "run"
    result = run_cli(*sr_args(data, run, "--lr", "1e4"), ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    last_line = result.output.strip().splitlines()[-1]
    assert last_line.startswith("error: training stopped at epoch 1, step 2: the loss"), last_line
    assert "no checkpoint was written" in last_line and "Lower --lr" in last_line
    assert not (run / "last.pt").exists() and not (run / "best.pt").exists()


def test_divergence_keeps_the_last_good_checkpoint_and_the_run_resumes_from_it(data, tmp_path):
    """The network is broken (NaN weights) right after epoch 1 is saved: epoch 2 stops at its first step."""
    run = tmp_path / "run"
    setup = TASKS["sr"](coarse=data.coarse, fine=data.fine, width=8, blocks=1)
    trainer = Trainer(setup, TrainConfig(epochs=3, batch_size=4), run, torch.device("cpu"))

    def break_weights(record: dict) -> None:
        with torch.no_grad():
            for parameter in trainer.model.parameters():
                parameter.fill_(math.nan)

    with pytest.raises(FluidlossError, match=r"^training stopped at epoch 2, step 1: the loss is nan; the last good "
                                             r"checkpoint .*last\.pt \(epoch 1\) is kept"):
        trainer.fit(on_epoch=break_weights)
    kept = load_checkpoint(run / "last.pt")
    assert kept["epoch"] == 1 and load_checkpoint(run / "best.pt")["epoch"] == 1
    assert all(torch.isfinite(tensor).all() for tensor in kept["model"]["state"].values())
    assert [line["epoch"] for line in metrics(run)] == [1]

    result = run_cli(*sr_args(data, run, "--resume", epochs=3))
    assert "resuming after epoch 1" in text(result) and [line["epoch"] for line in metrics(run)] == [1, 2, 3]


def scalars(folder: Path, name: str) -> list[tuple[int, float]]:
    """(step, value) of a scalar in a folder of TensorBoard event files, read by TensorBoard's own loader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), purge_orphaned_data=True)
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(name)]


def test_every_epoch_is_a_tensorboard_scalar_beside_metrics_jsonl(data, tmp_path):
    run = tmp_path / "run"
    run_cli(*sr_args(data, run, epochs=2))
    logged = metrics(run)
    for name in ("train_loss", "val_loss", "lr"):
        found = scalars(run / "tensorboard", name)
        assert [step for step, _ in found] == [1, 2]
        assert [value for _, value in found] == pytest.approx([record[name] for record in logged], rel=1e-6)


def test_a_resumed_run_replaces_what_a_stopped_one_logged_past_its_checkpoint(tmp_path):
    from fluidloss_cli.engine.training.board import Board

    first = Board(tmp_path, first_epoch=1)
    for epoch in (1, 2, 3):  # epoch 3 logged, then the run stopped before its checkpoint: resume starts at 3
        first.log({"epoch": epoch, "val_loss": float(epoch)})
    first.close()
    resumed = Board(tmp_path, first_epoch=3)
    resumed.log({"epoch": 3, "val_loss": 30.0})
    resumed.close()
    assert scalars(tmp_path / "tensorboard", "val_loss") == [(1, 1.0), (2, 2.0), (3, 30.0)]
    replaced = Board(tmp_path, first_epoch=1)  # --overwrite: a new run in the same folder
    replaced.log({"epoch": 1, "val_loss": 100.0})
    replaced.close()
    assert scalars(tmp_path / "tensorboard", "val_loss") == [(1, 100.0)]
