"""The fluidloss HDF5 dataset schema (documented in docs/dataset.md), and safe opening of such files.

One file per dataset; root attributes describe the scene and provenance; one group per simulation
(`sim_0000`, ...) holds `velocity_x` [F, H, W+1], `velocity_y` [F, H+1, W], `density` [F, H, W]
(scenes with smoke) and the static masks `obstacle_mask`, `inflow_mask` [H, W].
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution

FORMAT = "fluidloss-dataset"
FORMAT_VERSION = 2  # 2: karman follows Um et al. 2020 (inflow over the whole bottom, marker density stored)
FRAME_FIELDS = ("velocity_x", "velocity_y", "density")
MASKS = ("obstacle_mask", "inflow_mask")
COMPRESSION = dict(compression="lzf", shuffle=True)  # h5py's fast built-in filter: keeps generate I/O-light


def sim_name(index: int) -> str:
    return f"sim_{index:04d}"


def field_shape(name: str, resolution: Resolution) -> tuple[int, int]:
    """The true per-frame shape of a stored field: faces for velocity, cells for the rest."""
    height, width = resolution
    return {"velocity_x": (height, width + 1), "velocity_y": (height + 1, width)}.get(name, (height, width))


def json_attr(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def dataset_attributes(scene: Any, frames: int, simulations: int, fields: list[str],
                       provenance: dict[str, Any]) -> dict[str, Any]:
    """The root attributes of a dataset file of `simulations` runs of `frames` frames of a scene object (its name,
    resolution, dt and domain size), as docs/dataset.md lists them."""
    return dict(format=FORMAT, format_version=FORMAT_VERSION, scene=scene.name, resolution=list(scene.resolution),
                frames=frames, dt=scene.dt, simulations=simulations, fields=json_attr(fields),
                domain_size=list(scene.domain_size), provenance=json_attr(provenance))


def create_frame_dataset(group: h5py.Group, name: str, frames: int, resolution: Resolution) -> h5py.Dataset:
    """An empty [frames, ...] float32 dataset, chunked per frame and compressed."""
    shape = field_shape(name, resolution)
    return group.create_dataset(name, shape=(frames, *shape), dtype=np.float32, chunks=(1, *shape), **COMPRESSION)


@contextmanager
def atomic_h5(path: Path) -> Iterator[h5py.File]:
    """Write an HDF5 file under a temporary name and move it into place only when complete."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        handle = h5py.File(tmp, "w")
    except OSError as exc:
        raise FluidlossError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_dataset(path: Path) -> h5py.File:
    """Open a fluidloss dataset for reading, or fail with one line saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise FluidlossError(f"{path}: no such file")
    if path.is_dir():
        raise FluidlossError(f"{path}: is a directory, not a dataset file")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise FluidlossError(f"{path}: not a readable HDF5 file (corrupt or truncated?)") from None
    if handle.attrs.get("format") != FORMAT:
        handle.close()
        raise FluidlossError(f"{path}: not a fluidloss dataset (no format={FORMAT!r} attribute)")
    version = int(handle.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        handle.close()
        raise FluidlossError(f"{path}: dataset format version {version}, this fluidloss reads {FORMAT_VERSION}: "
                             "regenerate it with this version's `fluidloss generate` (and `downsample`)")
    return handle


def dataset_resolution(handle: h5py.File) -> Resolution:
    return Resolution(*(int(n) for n in handle.attrs["resolution"]))


def simulation_groups(handle: h5py.File) -> list[h5py.Group]:
    """The simulation groups of a dataset, in order."""
    return [handle[name] for name in sorted(handle) if name.startswith("sim_")]
