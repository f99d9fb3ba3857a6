"""Downsampling a fine dataset onto a coarser grid, conserving fluxes.

A coarse face covers whole fine faces on the same grid line: its velocity is their average, so the
flux through it is the sum of theirs, and a divergence-free fine field stays divergence-free on the
coarse grid (to rounding). Cell-centred fields are area averages.

The output is written under its lock (engine/lock.py: a second run on it stops with one line) and atomically; an
interrupt is checked after every block of frames, so Ctrl-C or SIGTERM stops the run there and leaves no output.
"""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fluidloss_cli.engine import interrupt
from fluidloss_cli.engine.atomic import check_room
from fluidloss_cli.engine.data.schema import (
    MASKS,
    atomic_h5,
    create_frame_dataset,
    dataset_resolution,
    json_attr,
    open_dataset,
    read_frames,
    simulation_groups,
)
from fluidloss_cli.engine.data.size import frame_bytes
from fluidloss_cli.engine.outputs import check_output, claim_outputs
from fluidloss_cli.engine.scenes import check_scene
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.resolution import Resolution, downsample_factors

FRAMES_PER_BLOCK = 32  # frames read and written at once: bounded memory for any dataset size


def coarsen_x_faces(vx: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """[..., H, W+1] fine x-faces -> [..., H/fy, W/fx+1]: every fx-th face line, averaged over fy rows."""
    lines = vx[..., :, ::fx]
    return lines.reshape(*lines.shape[:-2], lines.shape[-2] // fy, fy, lines.shape[-1]).mean(axis=-2)


def coarsen_y_faces(vy: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """[..., H+1, W] fine y-faces -> [..., H/fy+1, W/fx]: every fy-th face line, averaged over fx columns."""
    lines = vy[..., ::fy, :]
    return lines.reshape(*lines.shape[:-1], lines.shape[-1] // fx, fx).mean(axis=-1)


def coarsen_cells(values: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """[..., H, W] cell values -> [..., H/fy, W/fx] block averages."""
    height, width = values.shape[-2:]
    return values.reshape(*values.shape[:-2], height // fy, fy, width // fx, fx).mean(axis=(-3, -1))


COARSENERS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "velocity_x": coarsen_x_faces,
    "velocity_y": coarsen_y_faces,
    "density": coarsen_cells,
}


def check_downsample(source: Path, coarse: Resolution, out: Path, overwrite: bool = False) -> None:
    """Refuse, before any work or output, a taken or unwritable `out`, or a `source` that is not a dataset
    downsampling to `coarse` or is of a scene no registry knows (training would refuse the copy with that line)."""
    source, out = Path(source), Path(out)
    check_output(out, overwrite, inputs=[source])
    with open_dataset(source) as src:
        check_scene(str(src.attrs["scene"]))
        downsample_factors(dataset_resolution(src), coarse)


def downsample_dataset(source: Path, coarse: Resolution, out: Path, overwrite: bool = False,
                       progress: Callable[[int, int], None] = lambda done, total: None) -> str:
    """Write `out`, the dataset `source` averaged onto `coarse`; returns a one-line summary."""
    source, out = Path(source), Path(out)
    check_downsample(source, coarse, out, overwrite)
    claimed = claim_outputs([out], lambda: check_output(out, overwrite, [source], held=True))
    with claimed, open_dataset(source) as src:
        fine = dataset_resolution(src)
        fy, fx = downsample_factors(fine, coarse)
        groups = simulation_groups(src)
        total = sum(group["velocity_x"].shape[0] for group in groups)
        done = 0
        with atomic_h5(out) as dst:
            dst.attrs.update(dict(src.attrs))
            dst.attrs["resolution"] = list(coarse)
            dst.attrs["provenance"] = json_attr({
                **provenance(),
                "source": str(source),
                "source_resolution": list(fine),
                "source_provenance": json.loads(src.attrs["provenance"]),
            })
            for group in groups:
                target = dst.create_group(group.name)
                target.attrs.update(dict(group.attrs))
                for name in MASKS:
                    if name in group:
                        target.create_dataset(name, data=coarsen_cells(group[name][()], fy, fx).astype(np.float32))
                frames = group["velocity_x"].shape[0]
                fields = [name for name in COARSENERS if name in group]
                written = {name: create_frame_dataset(target, name, frames, coarse) for name in fields}
                for start in range(0, frames, FRAMES_PER_BLOCK):
                    interrupt.check()
                    stop = min(start + FRAMES_PER_BLOCK, frames)
                    check_room(out, (stop - start) * frame_bytes(coarse, len(fields)))
                    for name in fields:
                        written[name][start:stop] = COARSENERS[name](read_frames(group[name], start, stop), fy, fx).astype(np.float32)
                    done += stop - start
                    progress(done, total)
    return f"{len(groups)} simulation(s), {fine} -> {coarse} (factors {fy}x{fx})"
