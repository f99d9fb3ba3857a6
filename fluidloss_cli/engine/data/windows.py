"""A torch Dataset of windows of consecutive frames, read lazily from a fluidloss HDF5 dataset."""

from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from fluidloss_cli.engine.data.schema import FRAME_FIELDS, open_dataset, read_frames, simulation_groups
from fluidloss_cli.engine.errors import FluidlossError


class FrameWindows(Dataset):
    """Every run of `window` consecutive frames of every simulation, as float32 tensors [window, ...].

    An item is a dict: one entry per stored field (`velocity_x`, `velocity_y`, `density` if present),
    plus `reynolds` and `sim` (group name) and `start` (first frame). The file is opened per process
    on first access, so the dataset works with DataLoader workers.
    """

    def __init__(self, path: Path, window: int = 2, simulations: list[str] | None = None):
        self.path = Path(path)
        if window < 1:
            raise FluidlossError(f"window must be at least 1 frame, got {window}")
        with open_dataset(self.path) as handle:
            groups = simulation_groups(handle)
            names = [g.name.lstrip("/") for g in groups]
            chosen = names if simulations is None else simulations
            unknown = sorted(set(chosen) - set(names))
            if unknown:
                raise FluidlossError(f"{self.path}: no simulation(s) {', '.join(unknown)}")
            self.fields = [f for f in FRAME_FIELDS if f in handle[chosen[0]]]
            self.index: list[tuple[str, int]] = []
            self.reynolds: dict[str, float] = {}
            for name in chosen:
                frames = handle[name]["velocity_x"].shape[0]
                if frames < window:
                    raise FluidlossError(f"{self.path}: {name} has {frames} frames, fewer than the window of {window}")
                self.index += [(name, start) for start in range(frames - window + 1)]
                self.reynolds[name] = float(handle[name].attrs.get("reynolds", np.nan))
        self.window = window
        self._handle: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        name, start = self.index[item]
        group = self._handle[name]
        sample = {f: torch.from_numpy(read_frames(group[f], start, start + self.window)) for f in self.fields}
        return {**sample, "reynolds": torch.tensor(self.reynolds[name]), "sim": name, "start": start}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_handle": None}  # h5py handles do not cross process boundaries
