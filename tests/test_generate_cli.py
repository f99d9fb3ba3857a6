"""`generate` and `downsample` from the command line: options, config files, workers, bad input, resume."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import run_cli



def assert_clean_error(result, *fragments: str) -> None:
    """A non-zero exit with a one-line message containing `fragments`, and no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert message.count("\n") <= 4, message  # click's usage header may precede its one-line error
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["generate", "smoke", "--out", "x.h5"], ["unknown scene 'smoke'", "karman, buoyancy"]),
        (["generate", "karman", "--res", "128by64", "--out", "x.h5"], ["resolution '128by64' is malformed"]),
        (["generate", "karman", "--re", "5", "--out", "x.h5"], ["Reynolds number 5 is out of range"]),
        (["generate", "buoyancy", "--re", "1e5", "--out", "x.h5"], ["has no Reynolds number"]),
        (["generate", "karman", "--frames", "1", "--out", "x.h5"], ["--frames must be at least 2"]),
        (["generate", "karman", "--dt", "-1", "--out", "x.h5"], ["--dt must be positive"]),
        (["generate", "karman", "--workers", "0", "--frames", "3", "--out", "x.h5"], ["--workers must be at least 1"]),
        (["generate", "karman", "--out", "no/such/dir/x.h5"], ["no/such/dir is not an existing directory"]),
        (["downsample", "missing.h5", "--res", "8x8", "--out", "y.h5"], ["missing.h5: no such file"]),
    ],
)
def test_bad_input_is_one_clear_line(args, fragments, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(run_cli(*args, ok=False), *fragments)
    assert not list(tmp_path.glob("*.h5"))


def test_output_inside_a_file_is_refused(tmp_path):
    (tmp_path / "plain.txt").write_text("not a directory")
    result = run_cli("generate", "buoyancy", "--frames", "3", "--out", tmp_path / "plain.txt" / "x.h5", ok=False)
    assert_clean_error(result, "is not an existing directory")


def test_downsample_rejects_bad_inputs(tmp_path, karman_files):
    fine, _ = karman_files
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 100)
    assert_clean_error(run_cli("downsample", corrupt, "--res", "64x32", "--out", tmp_path / "o.h5", ok=False), "not a readable HDF5 file")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.zeros(3)
    assert_clean_error(run_cli("downsample", foreign, "--res", "64x32", "--out", tmp_path / "o.h5", ok=False), "not a fluidloss dataset")
    assert_clean_error(run_cli("downsample", fine, "--res", "48x32", "--out", tmp_path / "o.h5", ok=False), "whole multiple")
    assert_clean_error(run_cli("downsample", fine, "--res", "256x128", "--out", tmp_path / "o.h5", ok=False), "whole multiple")
    assert_clean_error(run_cli("downsample", fine, "--res", "64x32", "--out", fine, ok=False), "exists")
    assert not (tmp_path / "o.h5").exists()


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "b.h5"
    run_cli("generate", "buoyancy", "--res", "16x16", "--frames", "3", "--out", out)
    before = out.read_bytes()
    assert_clean_error(run_cli("generate", "buoyancy", "--res", "16x16", "--frames", "4", "--out", out, ok=False), "exists", "--overwrite")
    assert out.read_bytes() == before
    run_cli("generate", "buoyancy", "--res", "16x16", "--frames", "4", "--out", out, "--overwrite")
    with h5py.File(out) as f:
        assert f.attrs["frames"] == 4


def test_config_file_sets_options_and_flags_override(tmp_path):
    config = tmp_path / "gen.toml"
    config.write_text('res = "32x16"\nre = [1e5, 3e5]\nframes = 5\nout = "%s"\n' % (tmp_path / "c.h5").as_posix())
    run_cli("generate", "karman", "--config", config, "--warmup", "0", "--frames", "3")
    with h5py.File(tmp_path / "c.h5") as f:
        assert list(f.attrs["resolution"]) == [32, 16] and f.attrs["frames"] == 3
        assert [f[s].attrs["reynolds"] for s in sorted(f)] == [1e5, 3e5]
    bad = tmp_path / "bad.toml"
    bad.write_text("resolution = 3\n")
    assert_clean_error(run_cli("generate", "karman", "--config", bad, ok=False), "unknown keys: resolution")


def test_workers_give_bit_identical_data_to_one_process(tmp_path):
    """Through the real `fluidloss` entry point (which pins the hash seed), in separate processes."""
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    common = ["generate", "karman", "--res", "32x16", "--re", "1e4", "1e7", "--warmup", "0", "--frames", "12"]
    for out, workers in ((one, "1"), (two, "2")):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
        subprocess.run([sys.executable, "-m", "fluidloss_cli", *common, "--out", str(out), "--workers", workers],
                       check=True, env=env, capture_output=True)
    with h5py.File(one) as a, h5py.File(two) as b:
        for sim in ("sim_0000", "sim_0001"):
            for name in ("velocity_x", "velocity_y"):
                np.testing.assert_array_equal(a[sim][name][()], b[sim][name][()])
        assert np.abs(a["sim_0000"]["velocity_x"][-1] - a["sim_0001"]["velocity_x"][-1]).max() > 1e-3


@pytest.mark.slow
def test_interrupted_generate_keeps_finished_simulations_and_resumes(tmp_path):
    out = tmp_path / "r.h5"
    # PhiFlow steps one simulation at a time (native batches them, so their parts appear together); 200 steps: the
    # simulation after the first takes as long as the first did (seconds), so the interrupt lands while it runs
    args = ["generate", "karman", "--res", "32x16", "--re", "1e5", "2e5", "--frames", "150", "--warmup", "50",
            "--solver", "phiflow", "--out", str(out)]
    process = subprocess.Popen([sys.executable, "-m", "fluidloss_cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = tmp_path / "r.h5.parts"
    deadline = time.monotonic() + 240
    while not (parts / "sim_0000.h5").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    # the state to interrupt: a simulation finished, the run still going (not a moment on the clock)
    assert (parts / "sim_0000.h5").exists() and process.poll() is None and not out.exists(), \
        "the run ended (or never finished a simulation) before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1].decode()
    assert process.returncode != 0 and "Traceback" not in stderr and "--resume" in stderr
    assert not out.exists() and (parts / "sim_0000.h5").exists()
    assert not list(parts.glob("*.tmp")), "a half-written simulation was left behind"
    kept = (parts / "sim_0000.h5").stat().st_mtime_ns

    assert_clean_error(run_cli(*args, ok=False), "interrupted run", "--resume")
    assert_clean_error(run_cli(*args[:-4], "--frames", "20", "--out", str(out), "--resume", ok=False), "different options")
    result = run_cli(*args, "--resume")
    assert "kept from the interrupted run" in result.output
    assert not parts.exists()

    reference = tmp_path / "ref.h5"
    run_cli(*args[:-1], str(reference))
    with h5py.File(out) as resumed, h5py.File(reference) as fresh:
        assert sorted(resumed) == ["sim_0000", "sim_0001"]
        for sim in resumed:
            np.testing.assert_allclose(resumed[sim]["velocity_y"][()], fresh[sim]["velocity_y"][()], atol=1e-3)
    assert kept  # the first simulation's part file was reused, not recomputed
