"""Fault injection: kills, Ctrl-C, full disks, damaged and foreign files, NaN/inf data, concurrent writers, bad options.

Every case asserts the one line and exit code the user gets and that finished work is intact. Processes are real
(`python -m fluidloss_cli`), disks are real where a tmpfs can be mounted, and an injected OSError(ENOSPC) stands in for
a full disk at the lowest write call (h5py's dataset write, os.fsync), never inside fluidloss's own code. Tests wait
on states (a file appearing, a process gone), with deadlines only against hangs.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, run_cli
from processes import DEADLINE, KARMAN, children, running, start, temporaries, wait_until
from studies import small_config
from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.data.schema import FORMAT_VERSION
from fluidloss_cli.engine.training import TASKS, Trainer, TrainConfig
from weight_fixtures import shared_file
pytestmark = pytest.mark.usefixtures("one_thread")


def assert_ends_with_one_line_error(result, *fragments: str) -> None:
    """A fault during a run: whatever progress it printed, it ends with exit code 2 and one `error: ...` line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in " ".join(result.output.split()), result.output


def finished_part(path: Path) -> bool:
    with h5py.File(path, "r") as handle:
        return all("wall_time_s" in handle[name].attrs for name in handle)


def same_data(a: Path, b: Path) -> None:
    """The datasets of two files agree (to the rounding that differs between hash seeds, see test_generate_cli)."""
    with h5py.File(a) as left, h5py.File(b) as right:
        assert sorted(left) == sorted(right)
        for sim in left:
            for name in ("velocity_x", "velocity_y"):
                np.testing.assert_allclose(left[sim][name][()], right[sim][name][()], atol=1e-3)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16 (8 frames), its 16x8 reference, and a SOL checkpoint trained on that for one epoch."""
    folder = tmp_path_factory.mktemp("faults")
    d = SimpleNamespace(folder=folder, fine=folder / "k.h5", coarse=folder / "k16.h5", sol=folder / "sol" / "last.pt")
    run_cli(*KARMAN, "--re", "1e5", "--frames", "8", "--out", d.fine)
    run_cli("downsample", d.fine, "--res", "16x8", "--out", d.coarse)
    run_cli("train", "sol", "--data", d.coarse, "--unroll", "1", "--out", d.sol.parent, "--epochs", "1",
            "--batch-size", "4", "--width", "8", "--blocks", "1", "--device", "cpu")
    return d


def copy(source: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copyfile(source, target)
    return target


# --- interruption and concurrency ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_kill_9_mid_write_keeps_finished_parts_refuses_concurrent_writers_and_resumes_identically(data, tmp_path):
    out, parts = tmp_path / "r.h5", tmp_path / "r.h5.parts"
    # PhiFlow finishes one simulation's part before the next (native writes a worker's batch of parts together)
    args = [*KARMAN, "--solver", "phiflow", "--re", "1e5", "2e5", "3e5", "--frames", "30", "--out", out]
    process = start(*args)
    wait_until(lambda: (parts / "sim_0000.h5").exists() and any(parts.glob("sim_0001.h5.*.tmp")),
               "the first simulation to finish and the second to be written", process)
    process.send_signal(signal.SIGSTOP)  # frozen mid-write, its lock held, while other runs try the same output
    kept = (parts / "sim_0000.h5").stat().st_mtime_ns
    for extra in ([], ["--overwrite"], ["--resume"]):  # a second run on the same output stops at once, deletes nothing
        assert_one_line_error(run_cli(*args, *extra, ok=False),
                              f"{out} is being written by another fluidloss run (pid {process.pid})")
    assert (parts / "sim_0000.h5").stat().st_mtime_ns == kept and any(parts.glob("sim_0001.h5.*.tmp"))

    process.kill()
    process.wait()
    assert finished_part(parts / "sim_0000.h5") and not out.exists()
    assert any(parts.glob("sim_0001.h5.*.tmp")), "the killed write left its temporary (removed by the next run)"
    result = run_cli(*args, "--resume")
    assert "kept from the interrupted run" in result.output
    assert not parts.exists() and temporaries(tmp_path) == []

    reference = tmp_path / "ref.h5"
    run_cli(*args[:-1], reference)
    same_data(out, reference)


@pytest.mark.slow
def test_workers_exit_when_generate_is_killed(tmp_path):
    parts = tmp_path / "w.h5.parts"
    process = start(*KARMAN, "--re", "1e5", "2e5", "--frames", "5000", "--workers", "2", "--out", tmp_path / "w.h5")
    wait_until(lambda: len(list(parts.glob("*.tmp"))) == 2, "both workers to write", process)
    workers = children(process.pid)
    assert len(workers) >= 2
    process.kill()
    process.wait()
    wait_until(lambda: not any(running(pid) for pid in workers), "the orphaned workers to exit")
    wait_until(lambda: not list(parts.glob("*.tmp")), "the workers to remove their temporaries")


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_at_once(tmp_path):
    """Long simulations (5000 frames): Ctrl-C must not wait for the running ones (test_generate_cli resumes)."""
    parts = tmp_path / "c.h5.parts"
    process = start(*KARMAN, "--re", "1e5", "2e5", "3e5", "--frames", "5000", "--workers", "2", "--out",
                    tmp_path / "c.h5")
    wait_until(lambda: len(list(parts.glob("*.tmp"))) == 3, "both workers to write (native: 2 and 1 parts)", process)
    workers = children(process.pid)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=DEADLINE)[0].decode()
    assert process.returncode == 130 and "Traceback" not in output and "--resume" in output
    wait_until(lambda: not any(running(pid) for pid in workers), "the workers to exit")
    assert list(parts.glob("sim_*.h5")) == [] and (parts / "plan.json").exists()  # stopped mid-simulation
    wait_until(lambda: temporaries(tmp_path) == [], "the workers to remove their temporaries")


def test_two_trainings_into_one_directory_the_second_stops_at_once(data, tmp_path):
    run = tmp_path / "run"
    setup = TASKS["ae"](data=data.coarse, latent=4, width=8)
    first = Trainer(setup, TrainConfig(epochs=1, batch_size=4), run, torch.device("cpu"))
    args = ["train", "ae", "--data", data.coarse, "--latent", "4", "--width", "8", "--epochs", "1", "--batch-size",
            "4", "--out", run, "--device", "cpu"]
    for extra in ([], ["--overwrite"]):
        assert_one_line_error(run_cli(*args, *extra, ok=False),
                              f"{run} is being written by another fluidloss run (pid {os.getpid()})")
    assert (run / "config.json").exists()  # --overwrite deleted nothing of the live run
    first.fit()
    assert load_checkpoint(run / "last.pt")["epoch"] == 1 and temporaries(tmp_path) == []


def test_torn_metrics_line_is_dropped_on_resume_with_a_warning(data, tmp_path):
    run = tmp_path / "run"
    setup = TASKS["ae"](data=data.coarse, latent=4, width=8)

    def interrupt(record: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(setup, TrainConfig(epochs=2, batch_size=4), run, torch.device("cpu")).fit(on_epoch=interrupt)
    with (run / "metrics.jsonl").open("a") as log:
        log.write('{"epoch": 2, "train_lo')  # a crash while the line of epoch 2 was appended
    result = run_cli("train", "ae", "--data", data.coarse, "--latent", "4", "--width", "8", "--epochs", "2",
                     "--batch-size", "4", "--out", run, "--device", "cpu", "--resume")
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "dropped 1 torn" in warnings[0]
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_leftover_temporaries_are_removed_but_not_those_of_a_live_run(data, tmp_path):
    out = tmp_path / "d.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = [tmp_path / "d.h5.tmp", tmp_path / f"d.h5.{int(dead.stdout)}-0a1b2c3d.tmp"]
    live = tmp_path / f"d.h5.{os.getpid()}-0a1b2c3d.tmp"
    for path in [*stale, live]:
        path.write_bytes(b"half a file")
    run_cli("downsample", data.fine, "--res", "16x8", "--out", out)
    assert not any(path.exists() for path in stale) and live.read_bytes() == b"half a file"
    with h5py.File(out) as handle:
        assert handle["sim_0000"]["velocity_x"].shape == (8, 16, 9)


# --- full disk ----------------------------------------------------------------------------------------------------

def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_during_generate_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "g.h5"
    monkeypatch.setattr(h5py.Dataset, "__setitem__", enospc)
    result = run_cli(*KARMAN, "--re", "1e5", "--frames", "4", "--out", out, ok=False)
    assert_ends_with_one_line_error(result, f"disk full while writing {tmp_path / 'g.h5.parts' / 'sim_0000.h5'}")
    assert not out.exists() and temporaries(tmp_path) == []


def test_disk_full_during_train_keeps_the_last_checkpoint_and_resumes(data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    args = ["train", "ae", "--data", data.coarse, "--latent", "4", "--width", "8", "--epochs", "2", "--batch-size",
            "4", "--out", run, "--device", "cpu"]
    real_fsync, written = os.fsync, []

    def fsync(fd: int) -> None:  # the second write of last.pt finds the disk full
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(run / "last.pt.")):
            written.append(fd)
            if len(written) == 2:
                enospc()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert_ends_with_one_line_error(run_cli(*args, ok=False), f"disk full while writing {run / 'last.pt'}")
    assert load_checkpoint(run / "last.pt")["epoch"] == 1 and temporaries(tmp_path) == []
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "resuming after epoch 1" in " ".join(run_cli(*args, "--resume").output.split())


@pytest.mark.parametrize("attempt", range(3))
def test_generate_workers_meeting_a_full_disk_end_the_run_with_one_line(small_disk, attempt):
    """Two workers write their simulations' parts onto a full disk: the run ends, every time, with one line and the
    exit code 2 (it used to hang at times: the main process waiting on a queue thread a failed worker held)."""
    done = subprocess.run([sys.executable, "-m", "fluidloss_cli", *KARMAN, "--re", "1e5", "2e5", "--warmup", "0",
                           "--frames", "40", "--workers", "2", "--out", small_disk / "big.h5"],
                          capture_output=True, text=True, timeout=DEADLINE)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output and output.count("error:") == 1, output
    assert "disk full while writing" in output and not (small_disk / "big.h5").exists()


def test_a_real_full_disk_during_generate_is_one_line(small_disk):
    """60 frames pass the up-front size check (a quarter of their raw size, twice: parts and merged file, fits in
    256 KiB) but not the disk: the part file and the merged file, compressed as they really are, do not both fit."""
    out = small_disk / "big.h5"
    result = run_cli(*KARMAN, "--re", "1e5", "--frames", "60", "--out", out, ok=False)
    assert_ends_with_one_line_error(result, "disk full while writing", str(small_disk))
    assert not out.exists() and temporaries(small_disk) == []


# --- damaged and foreign files --------------------------------------------------------------------------------------

def damage(source: Path, folder: Path, frame: int) -> Path:
    """A copy of `source` with random bytes written into the middle of sim_0000/velocity_x's chunk of `frame`."""
    target = copy(source, folder, "damaged.h5")
    with h5py.File(target, "r") as handle:
        chunk = handle["sim_0000"]["velocity_x"].id.get_chunk_info_by_coord((frame, 0, 0))
    with open(target, "r+b") as raw:
        raw.seek(chunk.byte_offset + chunk.size // 4)
        raw.write(np.random.default_rng(0).bytes(chunk.size // 2))
    return target


def readers(path: Path, out: Path) -> dict[str, list]:
    """Commands that read every frame (downsample), training windows (train ae), and one frame (evaluate pair)."""
    return {
        "downsample": ["downsample", path, "--res", "16x8", "--out", out / "o.h5"],
        "train": ["train", "ae", "--data", path, "--latent", "4", "--width", "8", "--epochs", "1", "--batch-size", "4",
                  "--out", out / "run", "--device", "cpu"],
        "evaluate": ["evaluate", "pair", f"{path}:sim_0000:3", f"{path}:sim_0000:4", "--metric", "mse", "--device",
                     "cpu"],
    }


@pytest.mark.parametrize("command", ["downsample", "train", "evaluate"])
def test_random_bytes_in_a_dataset_name_file_simulation_and_frame(data, tmp_path, command):
    path = damage(data.fine, tmp_path, 3)
    result = run_cli(*readers(path, tmp_path)[command], ok=False)
    assert_ends_with_one_line_error(result, f"{path}: sim_0000 velocity_x frame 3 cannot be read, the file is damaged")
    assert not (tmp_path / "o.h5").exists() and temporaries(tmp_path) == []


@pytest.mark.parametrize("command", ["downsample", "train"])
def test_a_file_with_the_format_attribute_but_nothing_else_is_refused(tmp_path, command):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs.update(format="fluidloss-dataset", format_version=FORMAT_VERSION)
    result = run_cli(*readers(path, tmp_path)[command], ok=False)
    assert_one_line_error(result, f"{path}: damaged or foreign dataset", "scene, resolution, frames, dt")


def impossible(source: Path, tmp_path: Path, change) -> Path:
    """A copy of a real dataset with one impossible value written into it by `change(handle)`."""
    path = tmp_path / "impossible.h5"
    shutil.copy(source, path)
    with h5py.File(path, "r+") as handle:
        change(handle)
    return path


def integer_velocity(handle: h5py.File) -> None:
    """Store sim_0000's velocity_x as int32, same shape."""
    values = handle["sim_0000/velocity_x"][...]
    del handle["sim_0000/velocity_x"]
    handle["sim_0000"].create_dataset("velocity_x", data=values.astype(np.int32))


@pytest.mark.parametrize("change, message", [
    (lambda h: h["sim_0000"].attrs.__setitem__("reynolds", -1.0), "sim_0000 has Reynolds number -1.0"),
    (lambda h: h["sim_0000"].attrs.__setitem__("reynolds", np.inf), "must be positive and finite"),
    (integer_velocity, "sim_0000 velocity_x holds int32 values"),
])
@pytest.mark.parametrize("command", ["downsample", "train"])
def test_impossible_values_are_refused_when_a_dataset_is_opened(data, tmp_path, change, message, command):
    path = impossible(data.fine, tmp_path, change)
    result = run_cli(*readers(path, tmp_path)[command], ok=False)
    assert_one_line_error(result, f"{path}: ", message)
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"]["state"]["stem.weight"].fill_(float("nan")), "its weights hold NaN or infinite values"),
    (lambda c: c["model"].update(name="transformer"), "names an unknown model 'transformer'"),
    (lambda c: c["model"]["state"].update({"stem.weight": torch.zeros(3, 3)}), "weights do not fit the model"),
])
def test_a_checkpoint_of_an_unknown_model_or_wrong_shapes_is_refused(data, tmp_path, change, message):
    content = torch.load(data.sol, weights_only=True)
    assert "stem.weight" in content["model"]["state"]
    change(content)
    bad = tmp_path / "bad.pt"
    torch.save(content, bad)
    result = run_cli("simulate", "karman", "--from", data.coarse, "--frame", "0", "--steps", "2", "--sol", bad,
                     "--out", tmp_path / "s.h5", "--device", "cpu", ok=False)
    assert_one_line_error(result, f"{bad}", message)
    assert not (tmp_path / "s.h5").exists()


# --- NaN and inf in data ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("command", ["downsample", "train", "evaluate"])
def test_nan_or_inf_in_a_dataset_names_simulation_and_frame(data, tmp_path, command, value):
    path = copy(data.fine, tmp_path, "bad.h5")
    with h5py.File(path, "r+") as handle:
        frames = handle["sim_0000"]["velocity_y"]
        frame = frames[3]
        frame[2, 5] = value
        frames[3] = frame
    result = run_cli(*readers(path, tmp_path)[command], ok=False)
    assert_ends_with_one_line_error(result, f"{path}: sim_0000 velocity_y frame 3 holds {value}", "NaN/inf")
    assert "Lower --lr" not in result.output and temporaries(tmp_path) == []


def test_sol_on_a_dataset_that_was_not_downsampled_says_so(data, tmp_path):
    result = run_cli("train", "sol", "--data", data.fine, "--unroll", "1", "--epochs", "1", "--out", tmp_path / "r",
                     ok=False)
    assert_one_line_error(result, f"{data.fine} was simulated at 32x16, not downsampled", "fluidloss downsample")


# --- options ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, fragments", [
    (["--res", "100000x100000"], ["--res 100000x100000: one karman simulation needs about", "GiB of memory"]),
    (["--res", "512x256"], ["supports at most 46340 cells, this is 131072"]),
    (["--frames", "0"], ["--frames must be at least 2, got 0"]),
    (["--dt", "nan"], ["--dt must be positive and finite, got nan"]),
    (["--dt", "inf"], ["--dt must be positive and finite, got inf"]),
    (["--out", "/proc/fluidloss.h5"], ["cannot write /proc/fluidloss.h5: directory /proc is not writable"]),
])
def test_options_that_cannot_work_are_refused_up_front(tmp_path, options, fragments):
    args = ["generate", "karman", "--re", "1e5", "--frames", "4", "--out", tmp_path / "o.h5", *options]
    assert_one_line_error(run_cli(*args, ok=False), *fragments)
    assert list(tmp_path.iterdir()) == []


# --- weights ------------------------------------------------------------------------------------------------------

def test_altered_lsim_weights_warn_on_every_run(data, tmp_path, monkeypatch):
    official = torch.load(shared_file("weights", "LSiM.pth"), map_location="cpu", weights_only=True)
    state = official["stateDict"]
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] * 1.01
    altered = tmp_path / "altered.pth"
    torch.save(official, altered)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FLUIDLOSS_WEIGHTS_DIR", raising=False)
    run_cli("weights", "import", "lsim", altered, "--force")
    pair = ["evaluate", "pair", f"{data.fine}:sim_0000:3", f"{data.fine}:sim_0000:4", "--metric", "lsim",
            "--device", "cpu"]
    for _ in range(2):
        warnings = [line for line in run_cli(*pair).output.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "is not the official LSiM weights LSiM.pth" in warnings[0], warnings


# --- third round: option ranges, outputs, partial data, interrupts (issue 21) ----------------------------------------

def train_args(task: str, d: SimpleNamespace) -> list:
    """A tiny run of `task` on the module's data, without --out."""
    inputs = {"sol": ["--data", d.coarse, "--unroll", "1"], "ae": ["--data", d.coarse, "--latent", "4"],
              "sr": ["--coarse", d.coarse, "--fine", d.fine]}[task]
    return ["train", task, *inputs, "--width", "8", "--epochs", "1", "--batch-size", "4", "--device", "cpu"]


@pytest.mark.parametrize("task, options, fragment", [
    ("ae", ["--latent", "0"], "--latent must be at least 1, got 0"),
    ("ae", ["--width", "0"], "--width must be at least 1, got 0"),
    ("sr", ["--width", "-3"], "--width must be at least 1, got -3"),
    ("sr", ["--blocks", "0"], "--blocks must be at least 1, got 0"),
    ("sol", ["--blocks", "0"], "--blocks must be at least 1, got 0"),  # trained the plain stem silently before
    ("sol", ["--kernel-size", "0"], "--kernel-size must be odd and at least 1"),
    ("sol", ["--kernel-size", "4"], "--kernel-size must be odd and at least 1, an even kernel"),
    ("sol", ["--width", "-1"], "--width must be at least 1, got -1"),
    ("ae", ["--seed", "-5"], "--seed must be from 0 to 4294967295, got -5"),
    ("sr", ["--epochs", "0"], "--epochs must be at least 1, got 0"),
    ("ae", ["--lr", "nan"], "--lr must be positive and finite, got nan"),
    ("ae", ["--nproc", "0"], "--nproc must be at least 1, got 0"),
])
def test_network_sizes_and_training_options_out_of_range_leave_no_run_directory(data, tmp_path, task, options,
                                                                                 fragment):
    """Before: a traceback and a run directory with a config but no checkpoint, which neither a rerun nor --resume
    could use."""
    run = tmp_path / "run"
    result = run_cli(*train_args(task, data), *options, "--out", run, ok=False)
    assert_one_line_error(result, *fragment.split(", an even"))
    assert not run.exists() and "UserWarning" not in result.output


@pytest.mark.parametrize("task, validation", [
    ("ae", ["--val", "{coarse}"]),
    ("sol", ["--val", "{coarse}"]),
    ("sr", ["--val-coarse", "{coarse}", "--val-fine", "{other}"]),
])
def test_validation_data_that_is_the_training_data_is_refused(data, tmp_path, task, validation):
    other = copy(data.fine, tmp_path, "other.h5")
    args = [str(a).format(coarse=data.coarse, other=other) for a in validation]
    result = run_cli(*train_args(task, data), *args, "--out", tmp_path / "run", ok=False)
    assert_one_line_error(result, f"{validation[0]} is the training file {data.coarse}", "--val-split")
    assert not (tmp_path / "run").exists()


def test_outputs_that_cannot_be_written_are_refused_before_any_work(data, tmp_path):
    """Before, found at write time: `simulate --render` into an unwritable folder raised from its clean-up after the
    dataset was written; `study run --out` failed after planning; `train --out FILE/run` said only "File exists"."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    simulate = ["simulate", "karman", "--from", data.coarse, "--steps", "2", "--out", tmp_path / "s.h5", "--device",
                "cpu"]
    cases = [
        (simulate + ["--render", "/proc/fluidloss.gif"], "cannot write /proc/fluidloss.gif: directory /proc is not "
                                                          "writable"),
        (simulate + ["--render", "/proc/fluidloss-frames"], "cannot write /proc/fluidloss-frames: directory /proc"),
        (simulate + ["--render", afile / "x.gif"], f"{afile} is not an existing directory"),
        (["study", "run", "sample_configs/study_smoke.toml", "--out", "/proc/fluidloss-study"],
         "cannot write /proc/fluidloss-study: directory /proc is not writable"),
        (["study", "report", "/proc"], "cannot write /proc: directory /proc is not writable"),
        ([*train_args("ae", data), "--out", afile / "run"], f"cannot create the folder {afile / 'run'}: {afile} is a "
                                                            "file, not a folder"),
        ([*train_args("ae", data), "--out", "/proc/fluidloss-run"], "directory /proc is not writable"),
        (["evaluate", "frames", "--data", data.coarse, "--fine", data.fine, "--out", afile / "e"],
         f"{afile} is a file"),
    ]
    for args, fragment in cases:
        assert_one_line_error(run_cli(*args, ok=False), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("options, fragments", [
    (["--seed", "-5"], ["--seed must be from 0 to 4294967295, got -5"]),
    (["--seed", "0", str(2**32)], ["--seed must be from 0 to 4294967295, got 4294967296"]),
    (["--re", "-1e5"], ["--re must be positive and finite, got -100000.0"]),
    (["--workers", "0"], ["--workers must be at least 1, got 0"]),
    (["--warmup", "-1"], ["--warmup must be 0 or more, got -1"]),
])
def test_generate_options_out_of_range_leave_nothing_behind(tmp_path, options, fragments):
    """Before, `--seed -5` was a numpy traceback and left OUT.h5.parts, which the next run took for an interrupted
    run."""
    args = ["generate", "karman", "--res", "32x16", "--re", "1e5", "--frames", "4", "--out", tmp_path / "o.h5"]
    assert_one_line_error(run_cli(*args, *options, ok=False), *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, fragment", [
    (["simulate", "karman", "--seed", "-1", "--steps", "2"], "--seed must be from 0 to 4294967295, got -1"),
    (["simulate", "karman", "--from", "{coarse}", "--start", "-2"], "--start must be 0 or more, got -2"),
    (["simulate", "karman", "--dt", "0", "--steps", "2"], "--dt must be positive and finite, got 0.0"),
    (["evaluate", "frames", "--data", "{coarse}", "--fine", "{fine}", "--start", "100"],
     "--start 100: {coarse} has 8 frames per simulation"),  # was a KeyError while building this message
    (["evaluate", "frames", "--data", "{coarse}", "--fine", "{fine}", "--stride", "0"], "--stride must be at least 1"),
    (["evaluate", "rollout", "--data", "{coarse}", "--start", "-1"], "--start must be 0 or more, got -1"),
    (["evaluate", "rollout", "--data", "{coarse}", "--train", "{coarse}", "--train-stride", "0"],
     "--train-stride must be at least 1, got 0"),
    (["study", "plan", "sample_configs/study_smoke.toml", "--from", "{folder}", "--workers", "0"],
     "--workers must be at least 1, got 0"),  # was a ValueError traceback
    (["study", "run", "sample_configs/study_smoke.toml", "--out", "{out}", "--workers", "-1"],
     "--workers must be at least 1, got -1"),
    (["weights", "download", "lsim", "--timeout", "-1"], "--timeout must be positive and finite, got -1.0"),
    (["weights", "download", "lsim", "--timeout", "nan"], "--timeout must be positive and finite, got nan"),
    (["weights", "download", "lsim", "--mirror", "weights.example.org"], "--mirror 'weights.example.org' is not a URL"),
])
def test_numeric_options_and_urls_out_of_range_are_one_line(data, tmp_path, monkeypatch, args, fragment):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # lsim counts as missing: download would fetch it
    monkeypatch.delenv("FLUIDLOSS_WEIGHTS_DIR", raising=False)
    paths = dict(coarse=data.coarse, fine=data.fine, folder=data.folder, out=tmp_path / "study")
    extra = ["--out", tmp_path / "out"] if args[0] in ("simulate", "evaluate") else []
    result = run_cli(*(str(a).format(**paths) for a in args), *extra, ok=False)
    assert_one_line_error(result, fragment.format(**paths))
    assert not (tmp_path / "out").exists() and not (tmp_path / "study").exists()


def partial(source: Path, folder: Path, how: str) -> Path:
    """A copy of `source` made partial or inconsistent, as an interrupted copy or a hand edit leaves it."""
    target = copy(source, folder, f"{how}.h5")
    with h5py.File(target, "r+") as handle:
        group = handle["sim_0000"]
        if how == "no-density":
            del group["density"]
        elif how == "short-density":
            frames = group["density"][:5]
            del group["density"]
            group.create_dataset("density", data=frames)
        elif how == "no-simulations":
            del handle["sim_0000"]
        elif how == "more-claimed":
            handle.attrs["simulations"] = 2
    return target


@pytest.mark.parametrize("how, fragment", [
    ("no-density", "damaged or partial dataset, sim_0000 has no density frames"),
    ("short-density", "damaged or partial dataset, sim_0000 density is 5x32x16 where the attributes say 8x32x16"),
    ("more-claimed", "damaged or partial dataset, it holds 1 simulation(s) where its attributes say 2"),
    ("no-simulations", "holds no simulations"),  # downsample wrote an empty file, exit 0
])
@pytest.mark.parametrize("command", ["downsample", "train"])
def test_partial_or_inconsistent_datasets_are_refused_when_opened(data, tmp_path, how, fragment, command):
    """Before, downsample dropped the field or cut every field to the shortest (its attributes still claiming the
    full count) with exit 0, and train trained on less data or raised."""
    path = partial(data.fine, tmp_path, how)
    assert_one_line_error(run_cli(*readers(path, tmp_path)[command], ok=False), f"{path}: {fragment}")
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "run").exists()


def test_an_all_nan_array_is_refused_by_evaluate_pair(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.zeros((8, 8), np.float32))
    np.save(b, np.full((8, 8), np.nan, np.float32))
    result = run_cli("evaluate", "pair", a, b, "--metric", "mse", "--device", "cpu", ok=False)
    assert_one_line_error(result, f"{b}: holds nan at [0, 0, 0] (64 NaN/inf values)")


def test_weight_file_errors_advise_only_what_the_command_offers(tmp_path, monkeypatch):
    """A file torch refuses to unpickle must not pass on torch's advice to load it with weights_only=False; a
    downloaded file of the wrong checksum must not advise --force, which `download` does not have."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FLUIDLOSS_WEIGHTS_DIR", raising=False)
    pickled = tmp_path / "LSiM.pth"
    torch.save({"stateDict": {"x": torch.zeros(1)}, "extra": SimpleNamespace(a=1)}, pickled)
    result = run_cli("weights", "import", "lsim", pickled, "--force", ok=False)
    assert_one_line_error(result, f"{pickled} is not a readable torch weight file", "never loaded")
    assert "weights_only" not in result.output
    result = run_cli("weights", "download", "lsim", "--mirror", tmp_path.as_uri(), "--timeout", "5", ok=False)
    assert_one_line_error(result, "is not the official LSiM.pth", "it was not installed",
                          "fluidloss weights import lsim FILE --force")
    assert "use --force" not in result.output
    assert not (tmp_path / "cache" / "fluidloss" / "weights" / "LSiM.pth").exists()


def test_study_plan_from_a_folder_that_holds_no_study_is_refused(tmp_path):
    result = run_cli("study", "plan", "sample_configs/study_smoke.toml", "--from", tmp_path, ok=False)
    assert_one_line_error(result, f"--from {tmp_path}: holds no finished cell to measure (no cells/*/result.json")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_study_on_cuda_without_cuda_stops_before_any_cell(tmp_path):
    config = tmp_path / "cuda.toml"
    config.write_text(Path("sample_configs/study_smoke.toml").read_text().replace('device = "cpu"', 'device = "cuda"'))
    result = run_cli("study", "run", config, "--out", tmp_path / "study", ok=False)
    assert_ends_with_one_line_error(result, f"{config}: device = 'cuda': CUDA is not available", 'set device to "cpu"')
    assert not (tmp_path / "study").exists()


TINY_STUDY = small_config("[tasks.ae]\nwidth = 8\nlatent = 4\nstride = 3\n")


def test_a_study_whose_metrics_leave_out_the_measures_writes_its_report(tmp_path):
    """Before: every cell finished, then the report failed with KeyError 'reference' (the row that measures of a
    frame alone have) and no report.md was written."""
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_STUDY)
    run_cli("study", "run", config, "--out", tmp_path / "study", "--workers", "1")
    report = (tmp_path / "study" / "report.md").read_text()
    assert "| loss | compression | mse |" in report and "| reference |" not in report


def test_an_evaluation_interrupted_while_writing_is_simply_run_again(data, tmp_path, monkeypatch):
    """Before: JSON and CSV were written before the plots, so an interrupt between them left a folder that the rerun
    refused (`already holds an evaluation`) while the plots were missing."""
    from fluidloss_cli.engine.evaluation import plots

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "e"
    args = ["evaluate", "rollout", "--data", data.coarse, "--steps", "2", "--metrics", "mse", "--device", "cpu",
            "--out", out]
    with monkeypatch.context() as patch:
        patch.setattr(plots, "write_plots", interrupt)
        result = run_cli(*args, ok=False)
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert "interrupted: the evaluation was not finished (evaluation.json is written last); rerun the command" \
        in result.output and "--resume" not in result.output
    assert not (out / "evaluation.json").exists()
    run_cli(*args)
    assert (out / "evaluation.json").exists() and (out / "errors_coarse.png").exists()


def test_every_interrupt_message_names_only_options_its_command_has():
    """Ctrl-C advised `--resume` to downsample, evaluate and study run, which have none."""
    import re

    from typer.main import get_command

    from fluidloss_cli.app import _leaf, interrupt_advice

    group = get_command(__import__("fluidloss_cli.app", fromlist=["app"]).app)
    checked = 0
    for name, command in group.commands.items():
        leaves = command.commands.items() if hasattr(command, "commands") else [(None, command)]
        for sub, leaf in leaves:
            words = [name, *([sub] if sub else [])]
            path, found = _leaf(group, None, words)
            assert found is leaf, path
            advice = interrupt_advice(path, found)
            options = {o for param in leaf.params for o in getattr(param, "opts", [])}
            assert set(re.findall(r"--[a-z-]+", advice)) <= options, (path, advice)
            checked += 1
    assert checked >= 15
    assert "--resume" in interrupt_advice("train sol", group.commands["train"].commands["sol"])
    assert "--resume" not in interrupt_advice("downsample", group.commands["downsample"])


@pytest.mark.slow
def test_sigterm_to_train_says_what_was_kept_and_exits_143(data, tmp_path):
    run = tmp_path / "run"
    args = ["train", "ae", "--data", data.coarse, "--latent", "4", "--width", "8", "--epochs", "500", "--batch-size",
            "2", "--out", run, "--device", "cpu"]
    process = start(*args)
    wait_until(lambda: (run / "last.pt").exists(), "the first epoch's checkpoint", process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=DEADLINE)[0].decode()
    assert process.returncode == 143 and "Traceback" not in output, output
    assert output.strip().splitlines()[-1] == "terminated: finished work was kept; rerun with --resume to complete it"
    assert load_checkpoint(run / "last.pt")["epoch"] >= 1 and temporaries(tmp_path) == []
