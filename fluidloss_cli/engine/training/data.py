"""Datasets for training: what a file holds and its identity, coarse/fine pairs, and the validation split."""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from fluidloss_cli.engine.data.schema import FRAME_FIELDS, dataset_resolution, open_dataset, simulation_groups
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution

VELOCITY = ("velocity_x", "velocity_y")


def attributes_sha256(handle: h5py.File) -> str:
    """SHA-256 of the root and simulation-group attributes: the file's identity (scene, parameters, provenance)."""
    digest = hashlib.sha256()
    for obj in [handle, *simulation_groups(handle)]:
        attrs = {key: np.asarray(obj.attrs[key]).tolist() for key in sorted(obj.attrs)}
        digest.update(json.dumps([obj.name, attrs], sort_keys=True).encode())
    return digest.hexdigest()


def reynolds(group: h5py.Group) -> float | None:
    """A simulation's Reynolds number; None for scenes without one (stored as NaN, which never equals itself)."""
    value = float(group.attrs.get("reynolds", np.nan))
    return None if np.isnan(value) else value


@dataclass(frozen=True)
class DatasetInfo:
    """What training needs to know about a dataset file, read once from its attributes and groups."""

    path: Path
    scene: str
    resolution: Resolution
    frames: int
    simulations: tuple[tuple[str, float | None, int], ...]
    """(group, Reynolds number or None, seed) per simulation."""
    fields: tuple[str, ...]
    sha256: str

    @classmethod
    def read(cls, path: Path, task: str) -> "DatasetInfo":
        """Describe `path`, or fail with one line when it lacks the velocity every task needs."""
        with open_dataset(path) as handle:
            groups = simulation_groups(handle)
            if not groups:
                raise FluidlossError(f"{path}: holds no simulations")
            fields = tuple(f for f in FRAME_FIELDS if all(f in group for group in groups))
            missing = [f for f in VELOCITY if f not in fields]
            if missing:
                raise FluidlossError(f"{path}: task {task} needs the fields {', '.join(VELOCITY)}, but "
                                     f"{', '.join(missing)} is missing")
            return cls(path=Path(path), scene=str(handle.attrs["scene"]), resolution=dataset_resolution(handle),
                       frames=int(handle.attrs["frames"]),
                       simulations=tuple((g.name.lstrip("/"), reynolds(g), int(g.attrs.get("seed", 0)))
                                         for g in groups),
                       fields=fields, sha256=attributes_sha256(handle))

    def identity(self) -> dict:
        """Path and attribute hash, recorded in checkpoints so that a model names the data it was trained on."""
        return {"path": str(self.path.resolve()), "sha256": self.sha256, "scene": self.scene,
                "resolution": list(self.resolution), "fields": list(self.fields)}


def check_like(reference: DatasetInfo, other: DatasetInfo) -> None:
    """Raise unless `other` has the scene, resolution and fields of `reference` (a validation file of a training one)."""
    for what in ("scene", "resolution", "fields"):
        mine, theirs = getattr(reference, what), getattr(other, what)
        if mine != theirs:
            raise FluidlossError(f"{other.path} does not match {reference.path}: {what} {theirs} vs {mine}")


def sr_factor(coarse: DatasetInfo, fine: DatasetInfo, factors: Sequence[int]) -> int:
    """The resolution ratio of a coarse/fine pair of the same simulations, or one line saying why they do not match."""
    pair = f"coarse {coarse.path} and fine {fine.path}"
    if coarse.scene != fine.scene:
        raise FluidlossError(f"{pair} are different scenes ({coarse.scene} vs {fine.scene})")
    if coarse.simulations != fine.simulations:
        raise FluidlossError(f"{pair} hold different simulations (groups, Reynolds numbers or seeds differ)")
    if coarse.frames != fine.frames:
        raise FluidlossError(f"{pair} have different frame counts ({coarse.frames} vs {fine.frames})")
    if coarse.fields != fine.fields:
        raise FluidlossError(f"{pair} hold different fields ({', '.join(coarse.fields)} vs {', '.join(fine.fields)})")
    (fh, fw), (ch, cw) = fine.resolution, coarse.resolution
    if fh % ch or fw % cw or fh // ch != fw // cw or fh // ch not in factors:
        raise FluidlossError(f"{pair}: the resolution ratio must be one of {', '.join(map(str, factors))} on both "
                             f"axes, got {fine.resolution} / {coarse.resolution}")
    return fh // ch


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
    if not 0 < fraction < 1:
        raise FluidlossError(f"--val-split must lie between 0 and 1, got {fraction}")
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
