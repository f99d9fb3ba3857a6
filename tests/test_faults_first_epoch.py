"""Fault injection, continued: a training run stopped before its first checkpoint (Ctrl-C, a full disk in epoch 1).

Before, Ctrl-C in epoch 1 advised `--resume`, which then found no last.pt, while a plain rerun asked for --resume:
only --overwrite worked. Now a run directory whose run finished no epoch is started afresh by a plain rerun or by
--resume, and the interrupt says so; a directory with finished epochs but no last.pt is refused with advice that works.
"""

import errno
import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import assert_one_line_error, run_cli
from processes import DEADLINE, KARMAN, start, temporaries, wait_until
from fluidloss_cli.commands.train import FIRST_EPOCH_ADVICE
from fluidloss_cli.engine.checkpoints import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16 (8 frames) and its 16x8 reference for quick runs; a 400-frame 32x16 reference downsampled from
    64x32, whose first SOL epoch lasts seconds: long enough to be interrupted."""
    folder = tmp_path_factory.mktemp("first_epoch")
    d = SimpleNamespace(fine=folder / "k.h5", coarse=folder / "k16.h5", long_fine=folder / "l.h5",
                        long=folder / "l32.h5")
    run_cli(*KARMAN, "--re", "1e5", "--frames", "8", "--out", d.fine)
    run_cli("downsample", d.fine, "--res", "16x8", "--out", d.coarse)
    run_cli("generate", "karman", "--res", "64x32", "--re", "1e5", "--warmup", "0", "--frames", "400", "--out",
            d.long_fine)
    run_cli("downsample", d.long_fine, "--res", "32x16", "--out", d.long)
    return d


def ae_args(d: SimpleNamespace, run: Path, epochs: int = 1) -> list:
    return ["train", "ae", "--data", d.coarse, "--latent", "4", "--width", "8", "--epochs", str(epochs),
            "--batch-size", "4", "--out", run, "--device", "cpu"]


def epochs_logged(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_ctrl_c_in_the_first_epoch_of_train_sol_advises_a_rerun_that_works(data, tmp_path):
    run = tmp_path / "run"
    args = ["train", "sol", "--data", data.long, "--unroll", "4", "--batch-size", "2", "--width", "8", "--blocks", "1",
            "--epochs", "1", "--device", "cpu", "--out", run]
    process = start(*args)
    wait_until(lambda: (run / "config.json").exists(), "the run to start", process)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=DEADLINE)[0].decode()
    assert not (run / "last.pt").exists(), "the first epoch ended before the interrupt: the test needs a longer one"
    assert process.returncode == 130 and "Traceback" not in output, output
    assert output.strip().splitlines()[-1] == f"interrupted: {FIRST_EPOCH_ADVICE}", output
    assert "--resume" not in output and (run / "config.json").exists()

    result = run_cli(*args)  # the advice: the same command again
    assert "resuming" not in result.output and "starting it afresh" not in result.output
    assert load_checkpoint(run / "last.pt")["epoch"] == 1 and epochs_logged(run) == [1]
    assert temporaries(tmp_path) == []


def test_resume_of_a_run_stopped_in_its_first_epoch_starts_it_afresh(data, tmp_path):
    from fluidloss_cli.engine.training import TASKS, Trainer, TrainConfig
    import torch

    run = tmp_path / "run"

    def interrupt(step) -> None:
        raise KeyboardInterrupt

    setup = TASKS["ae"](data=data.coarse, latent=4, width=8)
    with pytest.raises(KeyboardInterrupt):
        Trainer(setup, TrainConfig(epochs=2, batch_size=4), run, torch.device("cpu")).fit(on_step=interrupt)
    assert (run / "config.json").exists() and not (run / "last.pt").exists()

    result = run_cli(*ae_args(data, run, epochs=2), "--resume")
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {run}: the run there finished no epoch (no last.pt); starting it afresh"]
    assert "resuming after" not in result.output
    assert load_checkpoint(run / "last.pt")["epoch"] == 2 and epochs_logged(run) == [1, 2]


def test_a_full_disk_at_the_first_checkpoint_is_followed_by_a_plain_rerun(data, tmp_path, monkeypatch):
    """The first write of last.pt meets a full disk: best.pt and epoch 1's metrics line were written before it, yet
    no epoch finished; the same command then runs the whole run again."""
    run = tmp_path / "run"
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(run / "last.pt.")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        result = run_cli(*ae_args(data, run, epochs=2), ok=False)
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1] == \
        f"error: disk full while writing {run / 'last.pt'}", result.output
    assert (run / "best.pt").exists() and not (run / "last.pt").exists() and epochs_logged(run) == [1]

    run_cli(*ae_args(data, run, epochs=2))
    assert load_checkpoint(run / "last.pt")["epoch"] == 2 and epochs_logged(run) == [1, 2]
    assert temporaries(tmp_path) == []


def test_finished_epochs_without_last_pt_are_not_replaced_and_the_advice_works(data, tmp_path):
    """last.pt gone (deleted by hand) after two finished epochs: not an unfinished run; the refusals name only
    --overwrite, which works."""
    run = tmp_path / "run"
    run_cli(*ae_args(data, run, epochs=2))
    (run / "last.pt").unlink()
    best = (run / "best.pt").read_bytes()
    assert_one_line_error(run_cli(*ae_args(data, run, epochs=2), ok=False),
                          f"{run} already holds a run (best.pt): pass --overwrite to replace it")
    assert_one_line_error(run_cli(*ae_args(data, run, epochs=2), "--resume", ok=False),
                          f"--resume: {run} holds no last.pt to continue from; pass --overwrite")
    assert (run / "best.pt").read_bytes() == best
    run_cli(*ae_args(data, run, epochs=2), "--overwrite")
    assert load_checkpoint(run / "last.pt")["epoch"] == 2 and epochs_logged(run) == [1, 2]
