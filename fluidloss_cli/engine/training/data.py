"""Datasets for training: coarse/fine pairs and the validation split (what a file holds: engine/data/info.py)."""

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError

class PairedFrames(Dataset):
    """Frame i of a coarse and of a fine dataset of the same simulations: {"coarse": window, "fine": window}."""

    def __init__(self, coarse: Path, fine: Path):
        """Index both files; `sr_factor` has checked that their simulations and frames agree."""
        self.coarse, self.fine = FrameWindows(coarse, window=1), FrameWindows(fine, window=1)

    def __len__(self) -> int:
        return len(self.coarse)

    def __getitem__(self, item: int) -> dict:
        return {"coarse": self.coarse[item], "fine": self.fine[item]}


def split_frames(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split a dataset by frames into (train, validation): a `fraction` of the frames, drawn with `seed`."""
    count = len(dataset)
    held_out = round(count * fraction)
    if not 0 < held_out < count:
        raise FluidlossError(f"--val-split {fraction} of {count} frames leaves no validation or no training frames")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, sorted(order[held_out:])), Subset(dataset, sorted(order[:held_out]))


def train_val(make: Callable[..., Dataset], files: Sequence[Path], val_files: Sequence[Path] | None,
              val_split: float, seed: int) -> tuple[Dataset, Dataset]:
    """Training and validation data: `make(*files)` split by `val_split`, or `make(*val_files)` for validation."""
    if val_files:
        return make(*files), make(*val_files)
    return split_frames(make(*files), val_split, seed)
