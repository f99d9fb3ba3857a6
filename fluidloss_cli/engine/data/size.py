"""What a dataset will cost before it is simulated: memory per simulation, file size, and PhiFlow's matrix limit.

A resolution far beyond what the machine holds (`--res 100000x100000`) is refused up front with the figures, instead
of failing after minutes inside torch or phiml.
"""

import os

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution

WORKING_COPIES = 20
"""Frames' worth of memory one simulation step holds (state, advected copies, divergence, pressure, CG vectors)."""

MATRIX_CELLS = 46_340
"""phiml 1.16 indexes the sparse pressure matrix of make_incompressible with int32 (cells squared below 2**31), so
scenes that solve pressure with it fail beyond this many cells (docs/dataset.md, "Pressure solve")."""


def frame_bytes(resolution: Resolution, fields: int) -> int:
    """float32 bytes of one stored frame: two staggered velocity components and `fields - 2` cell fields."""
    height, width = resolution
    return 4 * (height * (width + 1) + (height + 1) * width + (fields - 2) * height * width)


def physical_memory() -> int:
    """Bytes of RAM on this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(count: int) -> str:
    return f"{count / 2**30:,.1f} GiB"


def check_size(scene: str, resolution: Resolution, fields: int, frames: int, simulations: int,
               matrix_pressure: bool) -> None:
    """Raise one line when one simulation of `resolution` cannot fit in this machine's memory, or the scene's
    pressure matrix would overflow phiml's int32 indices."""
    per_frame = frame_bytes(resolution, fields)
    memory = WORKING_COPIES * per_frame
    if memory > physical_memory():
        raise FluidlossError(f"--res {resolution}: one {scene} simulation needs about {gib(memory)} of memory "
                             f"({gib(per_frame)} a frame, {gib(per_frame * frames * simulations)} for the "
                             f"{frames * simulations} frames uncompressed); this machine has {gib(physical_memory())}")
    if matrix_pressure and resolution.cells > MATRIX_CELLS:
        raise FluidlossError(f"--res {resolution}: {scene}'s pressure solve (phiml's sparse matrix, int32 indices) "
                             f"supports at most {MATRIX_CELLS} cells, this is {resolution.cells}")
