"""A rollout as a dataset file: one simulation's frames (from `simulate`) stacked, checked finite and written in the
dataset schema (docs/dataset.md, "simulate output"), atomically."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fluidloss_cli.engine.data.schema import atomic_h5, create_frame_dataset, dataset_attributes, json_attr, sim_name
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.scenes.base import Scene


def stack_frames(frames: list[Frame]) -> dict[str, np.ndarray]:
    """A run of single-sample frames as float32 arrays [F, ...] per field."""
    return {name: torch.cat([f[name] for f in frames]).float().cpu().numpy() for name in frames[0]}


def check_finite(frames: dict[str, np.ndarray]) -> None:
    """Refuse a diverged rollout rather than write non-finite frames."""
    for name, values in frames.items():
        finite = np.isfinite(values).reshape(len(values), -1).all(axis=1)
        if not finite.all():
            raise FluidlossError(f"the rollout diverged: {name} is not finite from step {int(np.argmin(finite))} on; "
                                 "rerun with fewer --steps")


def write_dataset(path: Path, scene: Scene, frames: dict[str, np.ndarray], parameters: dict[str, Any],
                  seconds: float, rollout: dict[str, Any]) -> None:
    """Write one simulation's frames on `scene`'s grid to `path` in the dataset schema, atomically."""
    count = len(frames["velocity_x"])
    with atomic_h5(path) as handle:
        handle.attrs.update(dataset_attributes(scene, count, 1, list(frames), {**provenance(), "rollout": rollout}))
        group = handle.create_group(sim_name(0))
        for name, values in frames.items():
            create_frame_dataset(group, name, count, scene.resolution)[:] = values
        for name, mask in scene.masks().items():
            group.create_dataset(name, data=mask)
        group.attrs.update(reynolds=math.nan if scene.reynolds is None else scene.reynolds, seed=scene.seed,
                           parameters=json_attr(parameters), wall_time_s=seconds,
                           frames_per_second=(count - 1) / seconds)
