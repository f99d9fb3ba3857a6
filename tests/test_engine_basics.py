"""Small engine pieces: resolutions, devices, the frame-window Dataset."""

import h5py
import pytest
import torch
from torch.utils.data import DataLoader

from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.device import resolve_device
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution, downsample_factors, parse_resolution


def test_resolution_parsing_and_factors():
    assert parse_resolution("128x64") == Resolution(128, 64) and str(Resolution(128, 64)) == "128x64"
    assert parse_resolution(" 256X128 ").cells == 256 * 128
    for bad in ("128", "128x", "x64", "-4x4", "2x2", "1e2x64"):
        with pytest.raises(FluidlossError):
            parse_resolution(bad)
    assert downsample_factors(Resolution(256, 128), Resolution(64, 32)) == (4, 4)
    for coarse in (Resolution(48, 32), Resolution(128, 64), Resolution(256, 128)):
        with pytest.raises(FluidlossError):
            downsample_factors(Resolution(128, 64), coarse)


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(FluidlossError, match="expected auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(FluidlossError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_frame_windows_read_consecutive_frames(karman_files):
    fine, _ = karman_files
    windows = FrameWindows(fine, window=3)
    assert len(windows) == 2 * (50 - 2)
    item = windows[50]
    assert item["sim"] == "sim_0001" and item["start"] == 2 and item["reynolds"] == 2e5
    assert item["velocity_x"].shape == (3, 128, 65) and item["velocity_y"].shape == (3, 129, 64)
    with h5py.File(fine) as f:
        assert torch.equal(item["velocity_y"][1], torch.from_numpy(f["sim_0001"]["velocity_y"][3]))
    batch = next(iter(DataLoader(windows, batch_size=4, num_workers=1, shuffle=False)))
    assert batch["velocity_x"].shape == (4, 3, 128, 65)
    with pytest.raises(FluidlossError, match="fewer than the window"):
        FrameWindows(fine, window=51)
    with pytest.raises(FluidlossError, match="no simulation"):
        FrameWindows(fine, simulations=["sim_0009"])
