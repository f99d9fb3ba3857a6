"""Exporting a fluidloss dataset in The Well's HDF5 layout (`fluidloss export`), readable by `the_well`'s WellDataset.

The layout is The Well's data format (the_well 1.2.0, its docs' "Data format" and `the_well.data.WellDataset`):
root attributes, groups `dimensions`, `boundary_conditions`, `scalars`, `t0_fields`, `t1_fields`, `t2_fields`, every
field as float32 [trajectory, time, x, y(, component)], written with h5py alone. Each simulation of the fluidloss file
is one trajectory (a fluidloss file has one frame count for all its simulations; `open_dataset` checks it). The
staggered velocity becomes cell-centred (the mean of each cell's two faces per component), the `velocity` vector
field; density stays the `density` scalar field; the non-zero static masks become constant fields; the Reynolds
number a per-trajectory scalar `Reynolds`; the scene's declared boundaries (`Scene.boundaries`) one boundary group
per axis. The Well indexes space x first: arrays are transposed from fluidloss's [.., y, x].
"""

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from fluidloss_cli.engine.atomic import check_room
from fluidloss_cli.engine.data.schema import (
    MASKS,
    atomic_h5,
    dataset_resolution,
    open_dataset,
    read_frames,
    simulation_groups,
)
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.outputs import check_output, check_output_dir
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.scenes import SCENES, scene_class

SUFFIXES = (".hdf5", ".h5")
"""The only names WellDataset reads (it globs `*.h5` and `*.hdf5` in a folder)."""
BC_TYPES = {"open": "OPEN", "wall": "WALL", "periodic": "PERIODIC"}
"""`Scene.boundaries` kinds -> The Well's `bc_type` (its `BoundaryCondition` enum names)."""
FRAMES_PER_BLOCK = 32  # frames read and written at once: bounded memory for any dataset size
STRINGS = h5py.string_dtype()


def cell_velocity(vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
    """Staggered faces, vx [..., H, W+1] and vy [..., H+1, W], -> cell-centred [..., H, W, 2] (x, y components):
    each component the mean of the cell's two faces across it."""
    return np.stack([(vx[..., :, :-1] + vx[..., :, 1:]) / 2, (vy[..., :-1, :] + vy[..., 1:, :]) / 2], axis=-1)


def x_first(values: np.ndarray, components: bool = False) -> np.ndarray:
    """fluidloss's [..., y, x(, c)] -> The Well's [..., x, y(, c)]."""
    axes = (-3, -2) if components else (-2, -1)
    return np.swapaxes(values, *axes)


def well_boundaries(scene: str) -> dict[str, str]:
    """The scene's outer boundary kind per axis as The Well's bc_type, or one line saying why there is none."""
    if scene not in SCENES:
        raise FluidlossError(f"scene {scene!r} is not registered in this fluidloss: its boundaries are unknown")
    declared = scene_class(scene).boundaries
    if not declared or set(declared) != {"x", "y"} or not set(declared.values()) <= set(BC_TYPES):
        raise FluidlossError(f"scene {scene!r} declares no boundaries for export (Scene.boundaries: x and y, each "
                             f"one of {', '.join(BC_TYPES)})")
    return {axis: BC_TYPES[declared[axis]] for axis in ("x", "y")}


def check_export(source: Path, out: Path, overwrite: bool = False) -> None:
    """Refuse, before any work, an output WellDataset would not read, a taken or unwritable one, or a source that is
    not a readable fluidloss dataset of a scene with declared boundaries; create the output's missing folders."""
    source, out = Path(source), Path(out)
    if out.suffix not in SUFFIXES:
        raise FluidlossError(f"cannot write {out}: The Well reads only files named *.hdf5 or *.h5")
    with open_dataset(source) as src:
        well_boundaries(str(src.attrs["scene"]))
    if not out.parent.exists():  # The Well's folders (NAME/data/train/) are made here, as `--out` names them
        check_output_dir(out.parent)
        out.parent.mkdir(parents=True, exist_ok=True)
    check_output(out, overwrite, inputs=[source])


def _flag(node: h5py.HLObject, sample: bool, time: bool, dims: bool | None = None) -> None:
    node.attrs["sample_varying"], node.attrs["time_varying"] = sample, time
    if dims is not None:
        node.attrs["dim_varying"] = [dims, dims]


def _names(group: h5py.Group, names: list[str]) -> None:
    group.attrs.create("field_names", names, dtype=STRINGS)


def write_header(dst: h5py.File, src: h5py.File, name: str, reynolds: np.ndarray, bcs: dict[str, str]) -> None:
    """Root attributes, dimensions, boundary conditions and scalars of The Well's layout."""
    height, width = dataset_resolution(src)
    domain_height, domain_width = (float(v) for v in src.attrs["domain_size"])
    frames, dt, warmup = int(src.attrs["frames"]), float(src.attrs["dt"]), int(src.attrs.get("warmup", 0))
    has_re = bool(np.isfinite(reynolds).all())
    dst.attrs.update(dataset_name=name, grid_type="cartesian", n_spatial_dims=2, n_trajectories=len(reynolds),
                     fluidloss_scene=str(src.attrs["scene"]), fluidloss_provenance=json.dumps(provenance()),
                     fluidloss_source_provenance=str(src.attrs["provenance"]))
    dst.attrs.create("simulation_parameters", ["Reynolds"] if has_re else [], dtype=STRINGS)
    if has_re:  # a root parameter is one number in The Well: here, where the trajectories differ, one per trajectory
        dst.attrs["Reynolds"] = float(reynolds[0]) if len(set(reynolds.tolist())) == 1 else reynolds

    dims = dst.create_group("dimensions")
    dims.attrs.create("spatial_dims", ["x", "y"], dtype=STRINGS)
    _flag(dims.create_dataset("time", data=((warmup + np.arange(frames)) * dt).astype(np.float32)), False, False)
    for axis, cells, size in (("x", width, domain_width), ("y", height, domain_height)):
        centres = ((np.arange(cells) + 0.5) * size / cells).astype(np.float32)
        _flag(dims.create_dataset(axis, data=centres), False, False)

    boundary = dst.create_group("boundary_conditions")
    for axis, cells in (("x", width), ("y", height)):
        bc = boundary.create_group(f"{axis}_{bcs[axis].lower()}")
        bc.attrs.create("associated_dims", [axis], dtype=STRINGS)
        bc.attrs.create("associated_fields", [], dtype=STRINGS)
        bc.attrs["bc_type"] = bcs[axis]
        _flag(bc, False, False)
        mask = np.zeros(cells, dtype=bool)
        mask[[0, -1]] = True  # both sides of the axis
        bc.create_dataset("mask", data=mask)

    scalars = dst.create_group("scalars")
    _names(scalars, ["Reynolds"] if has_re else [])
    if has_re:
        _flag(scalars.create_dataset("Reynolds", data=reynolds.astype(np.float32)), True, False)


def write_masks(group: h5py.Group, sims: list[h5py.Group]) -> list[str]:
    """The static masks that mark something (not all zero), as constant t0 fields; their names."""
    written = []
    for name in MASKS:
        stored = [sim[name][()] for sim in sims if name in sim]
        if len(stored) != len(sims) or not any(mask.any() for mask in stored):
            continue
        alike = all(np.array_equal(mask, stored[0]) for mask in stored)
        values = x_first(stored[0] if alike else np.stack(stored)).astype(np.float32)
        _flag(group.create_dataset(name, data=values), not alike, False, True)
        written.append(name)
    return written


def export_well(source: Path, out: Path, name: str | None = None, overwrite: bool = False,
                progress: Callable[[int, int], None] = lambda done, total: None) -> str:
    """Write `out`, the dataset `source` in The Well's layout (dataset_name `name`, by default `fluidloss_SCENE`);
    returns a one-line summary."""
    source, out = Path(source), Path(out)
    check_export(source, out, overwrite)
    with open_dataset(source) as src:
        scene = str(src.attrs["scene"])
        sims = simulation_groups(src)
        height, width = dataset_resolution(src)
        frames = int(src.attrs["frames"])
        reynolds = np.array([float(sim.attrs.get("reynolds", np.nan)) for sim in sims])
        has_density = all("density" in sim for sim in sims)
        with atomic_h5(out) as dst:
            write_header(dst, src, name or f"fluidloss_{scene}", reynolds, well_boundaries(scene))
            t0 = dst.create_group("t0_fields")
            constant = write_masks(t0, sims)
            shape = (len(sims), frames, width, height)
            written = {"velocity": dst.create_group("t1_fields").create_dataset(
                "velocity", shape=(*shape, 2), dtype=np.float32, chunks=(1, 1, width, height, 2))}
            if has_density:
                written["density"] = t0.create_dataset("density", shape=shape, dtype=np.float32,
                                                       chunks=(1, 1, width, height))
            for dataset in written.values():
                _flag(dataset, True, True, True)
            _names(t0, [*(["density"] if has_density else []), *constant])
            _names(dst["t1_fields"], ["velocity"])
            _names(dst.create_group("t2_fields"), [])
            _copy_frames(sims, written, out, progress)
    fields = ", ".join([*written, *(f"{mask} (constant)" for mask in constant)])
    return (f"{len(sims)} trajectory(ies) x {frames} steps of {width}x{height} (x by y) cells: {fields}; "
            f"boundaries {', '.join(f'{axis} {kind}' for axis, kind in well_boundaries(scene).items())}")


def _copy_frames(sims: list[h5py.Group], written: dict[str, h5py.Dataset], out: Path,
                 progress: Callable[[int, int], None]) -> None:
    """Every frame of every simulation, cell-centred and x first, in blocks of FRAMES_PER_BLOCK."""
    frames = written["velocity"].shape[1]
    total, done = len(sims) * frames, 0
    for index, sim in enumerate(sims):
        for start in range(0, frames, FRAMES_PER_BLOCK):
            stop = min(start + FRAMES_PER_BLOCK, frames)
            check_room(out, (stop - start) * sum(4 * int(np.prod(d.shape[2:])) for d in written.values()))
            velocity = cell_velocity(read_frames(sim["velocity_x"], start, stop),
                                     read_frames(sim["velocity_y"], start, stop))
            written["velocity"][index, start:stop] = x_first(velocity, components=True).astype(np.float32)
            if "density" in written:
                density = read_frames(sim["density"], start, stop)
                written["density"][index, start:stop] = x_first(density).astype(np.float32)
            done += stop - start
            progress(done, total)
