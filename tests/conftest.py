"""Shared fixtures: real datasets made once per test session by the real CLI, the weights fixtures
(weight_fixtures.py), and the environment of `fluidloss` subprocesses."""

import json
import os
import signal
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fluidloss_cli.app import app
from fluidloss_cli.engine.phiflow_setup import configure
from processes import ROOT

pytest_plugins = ["weight_fixtures"]

configure()  # as the commands do before they simulate: torch backend, speed-ups

# The tests that press Ctrl-C on a child `fluidloss` need SIGINT at its default, as in a terminal. A background job of
# a non-interactive shell (`pytest &` in a script) starts with SIGINT ignored, its children inherit that, and the
# interrupt they are sent is then lost by design of the shell, not of fluidloss.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SHARED = Path(__file__).resolve().parents[2] / "shared"


def run_cli(*args: str, ok: bool = True):
    """Run `fluidloss ARGS` in-process; by default assert that it succeeded."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"fluidloss {' '.join(map(str, args))} failed:\n{result.output}\n{result.exception!r}"
    return result


def assert_one_line_error(result, *fragments: str) -> None:
    """Exit status 2 and nothing but one `error: ...` line containing `fragments`; no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def one_thread():
    """Run a module on one torch thread: tiny networks train fastest so, and far faster than on two when the cores
    are busy (use with `pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def divergence(vx: np.ndarray, vy: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Cell divergence [..., H, W] of stored face arrays: an independent check of the stored fields."""
    return np.diff(vx, axis=-1) / dx + np.diff(vy, axis=-2) / dy


def spacing(handle: h5py.File) -> tuple[float, float]:
    (height, width), (cells_y, cells_x) = handle.attrs["domain_size"], handle.attrs["resolution"]
    return height / cells_y, width / cells_x


def attrs_json(obj, key: str) -> dict:
    return json.loads(obj.attrs[key])


@pytest.fixture(scope="session")
def karman_files(tmp_path_factory) -> tuple[Path, Path]:
    """The issue's example: karman 128x64, Re 1e5 and 2e5, 50 frames, and its 64x32 downsampling."""
    folder = tmp_path_factory.mktemp("karman")
    fine, coarse = folder / "k.h5", folder / "k32.h5"
    run_cli("generate", "karman", "--res", "128x64", "--re", "1e5", "2e5", "--warmup", "0", "--frames", "50", "--out", fine)
    run_cli("downsample", fine, "--res", "64x32", "--out", coarse)
    return fine, coarse


@pytest.fixture(scope="session")
def buoyancy_files(tmp_path_factory) -> tuple[Path, Path]:
    """buoyancy at 256x256 (beyond phiml's int32 matrix limit) and its 128x128 downsampling."""
    folder = tmp_path_factory.mktemp("buoyancy")
    fine, coarse = folder / "b.h5", folder / "b128.h5"
    run_cli("generate", "buoyancy", "--res", "256x256", "--frames", "40", "--out", fine)
    run_cli("downsample", fine, "--res", "128x128", "--out", coarse)
    return fine, coarse


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """The environment of `fluidloss` subprocesses (studies): this checkout first on the path, the official LSiM weights and nothing else."""
    from weight_fixtures import shared_file  # a plugin of this conftest (pytest_plugins): imported by pytest first

    folder = tmp_path_factory.mktemp("weights")
    for name in ("weights", "xdg", "torch"):
        (folder / name).mkdir()
    (folder / "weights" / "LSiM.pth").symlink_to(shared_file("weights", "LSiM.pth"))
    return dict(os.environ, PYTHONPATH=str(ROOT), FLUIDLOSS_WEIGHTS_DIR=str(folder / "weights"),
                XDG_CACHE_HOME=str(folder / "xdg"), TORCH_HOME=str(folder / "torch"))


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A real 256 KiB file system (tmpfs; needs root), unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)
