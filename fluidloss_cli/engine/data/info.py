"""What a dataset is, read from its attributes and groups in one place: scene, resolution, frames, dt, fields,
simulations (group, Reynolds number, seed), identity (attribute hash), geometry (cell size, obstacle), the SR factor
of a coarse/fine pair, and the frames a rollout starts from. Every use case reads a dataset's facts from here."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from fluidloss_cli.engine.data.schema import (
    FRAME_FIELDS,
    VELOCITY,
    dataset_resolution,
    open_dataset,
    simulation_groups,
)
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.physics import Geometry
from fluidloss_cli.engine.resolution import Resolution


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
    """What the use cases need to know about a dataset file, read once from its attributes and groups."""

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


def check_like(reference: DatasetInfo, other: DatasetInfo, variants: bool = False) -> None:
    """Raise unless `other` has the scene, resolution and fields of `reference` (a validation file of a training one);
    with `variants`, a variant of the scene counts as the scene (`scenes.same_family`)."""
    from fluidloss_cli.engine.scenes import same_family

    for what in ("scene", "resolution", "fields"):
        mine, theirs = getattr(reference, what), getattr(other, what)
        if mine != theirs and not (what == "scene" and variants and same_family(mine, theirs)):
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


def read_dt(path: Path) -> float:
    """The time step a dataset was simulated with, which the coarse solver must use too."""
    with open_dataset(path) as handle:
        return float(handle.attrs["dt"])


def read_geometry(path: Path, device: torch.device) -> Geometry:
    """A dataset's cell size (its domain size over its resolution), the obstacle of its first simulation (the
    scene's geometry, the same in every simulation) and, for a scene with a mass balance, the density its source
    injects per step (the scene's rate x dt x the stored `inflow_mask`, the source's fraction of each cell)."""
    from fluidloss_cli.engine.scenes import scene_class

    with open_dataset(path) as handle:
        (height, width), (rows, columns) = handle.attrs["domain_size"], handle.attrs["resolution"]
        first = simulation_groups(handle)[0]
        obstacle = torch.from_numpy(first["obstacle_mask"][()]).to(device)
        rate = scene_class(str(handle.attrs["scene"])).balance_rate
        source = None if rate is None else \
            torch.from_numpy(first["inflow_mask"][()]).to(device, torch.float64) * rate * float(handle.attrs["dt"])
    return Geometry.of((float(height) / int(rows), float(width) / int(columns)), obstacle, source)


@dataclass(frozen=True)
class Start:
    """Where the rollouts start: the scene and dt of a dataset, one frame of a simulation (of whatever grid the
    dataset has), its Reynolds number and the frames after it."""

    scene: str
    dt: float
    frame: Frame
    reynolds: torch.Tensor
    reference: list[Frame]


def read_start(path: Path, sim: str, frame: int, steps: int) -> Start:
    """Frame `frame` of simulation `sim` of a dataset and the `steps` frames after it."""
    with open_dataset(path) as handle:
        scene = str(handle.attrs["scene"])
    windows = FrameWindows(path, window=steps + 1, simulations=[sim])
    if not 0 <= frame < len(windows):
        raise FluidlossError(f"{path}: {sim} has no {steps} frames after frame {frame} (it has {len(windows) + steps})")
    item = windows[frame]
    frames = [{n: item[n][k:k + 1] for n in windows.fields} for k in range(steps + 1)]
    return Start(scene, read_dt(path), frames[0], item["reynolds"].view(1), frames[1:])
