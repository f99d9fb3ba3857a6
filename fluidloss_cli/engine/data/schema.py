"""The fluidloss HDF5 dataset schema (documented in docs/dataset.md), and safe opening of such files.

One file per dataset; root attributes describe the scene and provenance; one group per simulation
(`sim_0000`, ...) holds `velocity_x` [F, H, W+1], `velocity_y` [F, H+1, W], `density` [F, H, W]
(scenes with smoke) and the static masks `obstacle_mask`, `inflow_mask` [H, W].
"""

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from fluidloss_cli.engine import interrupt
from fluidloss_cli.engine.atomic import atomic_path
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.paths import check_input_file
from fluidloss_cli.engine.resolution import Resolution

FORMAT = "fluidloss-dataset"
FORMAT_VERSION = 2  # 2: karman follows Um et al. 2020 (inflow over the whole bottom, marker density stored)
VELOCITY = ("velocity_x", "velocity_y")
"""The staggered velocity, stored by every scene."""
FRAME_FIELDS = (*VELOCITY, "density")
"""Every per-frame field a dataset may store, in their stored order."""
MASKS = ("obstacle_mask", "inflow_mask")
COMPRESSION = dict(compression="lzf", shuffle=True, fletcher32=True)
"""h5py's fast built-in filter keeps generate I/O-light; the per-chunk checksum makes a damaged chunk fail to read
instead of decompressing to wrong numbers."""


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
    """Write an HDF5 file under a unique temporary name and move it into place only when complete (engine/atomic).
    Writers call `check_room` before each frame or block: HDF5 must never meet a full disk itself (see there)."""
    with atomic_path(Path(path)) as tmp:
        handle = h5py.File(tmp, "w")
        try:
            yield handle
        except BaseException:
            with suppress(Exception):  # the writing's error is the one to report
                handle.close()
            raise
        handle.close()
        interrupt.check()  # one swallowed inside HDF5's callbacks: the file is not moved into place


REQUIRED_ATTRIBUTES = ("scene", "resolution", "frames", "dt", "simulations", "fields", "domain_size", "provenance")


def open_dataset(path: Path) -> h5py.File:
    """Open a fluidloss dataset for reading, or fail with one line saying what is wrong with it."""
    path = Path(path)
    check_input_file(path, "file")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise FluidlossError(f"{path}: not a readable HDF5 file (corrupt or truncated?)") from None
    try:
        check_layout(handle, path)
    except BaseException:
        handle.close()
        raise
    return handle


def check_layout(handle: h5py.File, path: Path) -> None:
    """Raise unless the file carries the format, every root attribute of the schema and velocity in each simulation."""
    if handle.attrs.get("format") != FORMAT:
        raise FluidlossError(f"{path}: not a fluidloss dataset (no format={FORMAT!r} attribute)")
    version = int(handle.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise FluidlossError(f"{path}: dataset format version {version}, this fluidloss reads {FORMAT_VERSION}: "
                             "regenerate it with this version's `fluidloss generate` (and `downsample`)")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in handle.attrs]
    if missing:
        raise FluidlossError(f"{path}: damaged or foreign dataset, the attribute(s) {', '.join(missing)} are missing")
    resolution = np.asarray(handle.attrs["resolution"])
    if resolution.shape != (2,) or not all(int(n) > 0 for n in resolution):
        raise FluidlossError(f"{path}: damaged or foreign dataset, resolution {resolution.tolist()} is not [H, W]")
    check_contents(handle, path, Resolution(*(int(n) for n in resolution)))


def check_contents(handle: h5py.File, path: Path, resolution: Resolution) -> None:
    """Raise unless the simulations are what the root attributes say: as many as `simulations` (one at least), each
    with every field of `fields` (velocity at least), each of `frames` frames of the grid's shape. A partial or
    inconsistent file (a field missing in one simulation, one field cut short) would otherwise be read as less data
    than it claims, silently. Reads shapes only, no frames."""
    try:
        frames, count = int(handle.attrs["frames"]), int(handle.attrs["simulations"])
        fields = json.loads(handle.attrs["fields"])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ValueError
    except (TypeError, ValueError):
        raise FluidlossError(f"{path}: damaged or foreign dataset, its frames, simulations or fields attribute is "
                             "unreadable") from None
    fields = [*VELOCITY, *(f for f in fields if f not in VELOCITY)]
    groups = [name for name in sorted(handle) if name.startswith("sim_") and isinstance(handle[name], h5py.Group)]
    if not groups:
        raise FluidlossError(f"{path}: holds no simulations")
    if len(groups) != count:
        raise FluidlossError(f"{path}: damaged or partial dataset, it holds {len(groups)} simulation(s) where its "
                             f"attributes say {count}")
    for name in groups:
        group = handle[name]
        reynolds = group.attrs.get("reynolds")
        if reynolds is not None and not _physical(reynolds):
            raise FluidlossError(f"{path}: {name} has Reynolds number {reynolds}; a simulation's must be positive and "
                                 "finite (its viscosity is 1/Re)")
        for field in fields:
            stored = group.get(field)
            if not isinstance(stored, h5py.Dataset) or stored.ndim != 3:
                raise FluidlossError(f"{path}: damaged or partial dataset, {name} has no {field} frames [F, H, W]")
            if stored.dtype.kind != "f":
                raise FluidlossError(f"{path}: {name} {field} holds {stored.dtype} values; fluid fields are floating "
                                     "point (fluidloss writes float32)")
            wanted = (frames, *field_shape(field, resolution))
            if stored.shape != wanted:
                raise FluidlossError(f"{path}: damaged or partial dataset, {name} {field} is "
                                     f"{'x'.join(map(str, stored.shape))} where the attributes say "
                                     f"{'x'.join(map(str, wanted))} ({frames} frames of {resolution})")


def _physical(reynolds: object) -> bool:
    """A stored Reynolds number that can be simulated: a positive finite number (NaN marks a scene without one)."""
    try:
        value = float(reynolds)
    except (TypeError, ValueError):
        return False
    return math.isnan(value) or (math.isfinite(value) and value > 0)


def read_frames(dataset: h5py.Dataset, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames start..stop-1 of a stored field (by default all of them), or one line naming file, simulation, field
    and frame when a chunk is damaged or a value is NaN/inf (a cheap check on what is read anyway)."""
    stop = dataset.shape[0] if stop is None else stop
    try:
        values = dataset[start:stop]
    except OSError as exc:
        frame = next((f for f in range(start, stop) if not _readable(dataset, f)), start)
        raise FluidlossError(f"{_where(dataset, frame)} cannot be read, the file is damaged "
                             f"({' '.join(str(exc).split())[:120]})") from None
    finite = np.isfinite(values)
    if not finite.all():
        frame = start + int(np.argwhere(~finite)[0][0])
        value = values[frame - start][~finite[frame - start]][0]
        raise FluidlossError(f"{_where(dataset, frame)} holds {value} (NaN/inf); the data is unusable: regenerate it")
    return values


def _readable(dataset: h5py.Dataset, frame: int) -> bool:
    try:
        dataset[frame]
    except OSError:
        return False
    return True


def _where(dataset: h5py.Dataset, frame: int) -> str:
    """`FILE: sim_0000 velocity_x frame 12`."""
    group, field = dataset.name.strip("/").rsplit("/", 1)
    return f"{dataset.file.filename}: {group} {field} frame {frame}"


def dataset_resolution(handle: h5py.File) -> Resolution:
    return Resolution(*(int(n) for n in handle.attrs["resolution"]))


def simulation_groups(handle: h5py.File) -> list[h5py.Group]:
    """The simulation groups of a dataset, in order."""
    return [handle[name] for name in sorted(handle) if name.startswith("sim_")]
