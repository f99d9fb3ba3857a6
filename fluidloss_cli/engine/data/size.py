"""What a dataset will cost before it is simulated: memory per simulation, file size, and PhiFlow's matrix limit.

A resolution far beyond what the machine holds (`--res 100000x100000`) or a dataset far beyond the free disk
(`--frames 1000000000`) is refused up front with the figures, instead of failing after minutes inside torch or phiml
or after hours of writing.
"""

from pathlib import Path

from fluidloss_cli.engine.capacity import check_disk, check_memory, gib
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution

WORKING_COPIES = 20
"""Frames' worth of memory one simulation step holds (state, advected copies, divergence, pressure, CG vectors)."""

MATRIX_CELLS = 46_340
"""phiml 1.16 indexes the sparse pressure matrix of make_incompressible with int32 (cells squared below 2**31), so
scenes that solve pressure with it fail beyond this many cells (docs/dataset.md, "Pressure solve")."""

COMPRESSED_AT_LEAST = 0.25
"""The least share of its raw size a dataset is taken to need on disk: lzf with shuffle kept 0.54 to 0.68 of it in the
karman and buoyancy datasets measured here, so a dataset refused by this share would not fit even compressed twice as
well as ever seen (a dataset that fits it but not the disk still stops cleanly at the first frame with no room)."""


def frame_bytes(resolution: Resolution, fields: int) -> int:
    """float32 bytes of one stored frame: two staggered velocity components and `fields - 2` cell fields."""
    height, width = resolution
    return 4 * (height * (width + 1) + (height + 1) * width + (fields - 2) * height * width)


def check_stored_size(subject: str, raw: int, folder: Path, copies: int = 1, detail: str = "") -> None:
    """Refuse, before it is simulated, a dataset of `raw` uncompressed bytes (`copies` of it on disk at once) that
    cannot fit in `folder` even at COMPRESSED_AT_LEAST of its size; `subject` names the option that sets the size."""
    check_disk(subject, int(raw * copies * COMPRESSED_AT_LEAST), folder,
               f" ({gib(raw)} of frames uncompressed{detail}, even if compressed twice as well as ever seen)")


def check_size(scene: str, resolution: Resolution, fields: int, frames: int, simulations: int,
               matrix_pressure: bool) -> None:
    """Raise one line when one simulation of `resolution` cannot fit in the memory this process can take, or the
    scene's pressure matrix would overflow phiml's int32 indices."""
    per_frame = frame_bytes(resolution, fields)
    check_memory(f"--res {resolution}: one {scene} simulation", WORKING_COPIES * per_frame,
                 f" ({gib(per_frame)} a frame, {gib(per_frame * frames * simulations)} for the {frames * simulations} "
                 "frames uncompressed)")
    if matrix_pressure and resolution.cells > MATRIX_CELLS:
        raise FluidlossError(f"--res {resolution}: {scene}'s pressure solve (phiml's sparse matrix, int32 indices) "
                             f"supports at most {MATRIX_CELLS} cells, this is {resolution.cells}")
