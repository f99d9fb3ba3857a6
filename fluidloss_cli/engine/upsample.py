"""Bicubic upsampling of stored fields: the baseline a super-resolution model must beat, and the base it refines.

Each field is interpolated at the true positions of the fine samples: x-faces sit on cell edges along x and at
cell centres along y, y-faces the other way round, density at cell centres. `grid_sample` does the bicubic
interpolation; positions beyond the outermost coarse samples take the border values.
"""

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.fields import from_grid, to_grid

FACE_AXES = {"velocity_x": (False, True), "velocity_y": (True, False), "density": (False, False)}
"""Field -> whether its samples lie on cell edges along (rows, columns); otherwise at cell centres."""


def source_positions(fine: int, factor: float, on_edges: bool) -> torch.Tensor:
    """Coarse sample indices (fractional) of the fine samples along one axis (`factor`: fine cells per coarse one,
    whole or not)."""
    index = torch.arange(fine, dtype=torch.float64)
    return index / factor if on_edges else (index + 0.5) / factor - 0.5


@lru_cache(maxsize=64)
def sampling_grid(coarse: tuple[int, int], fine: tuple[int, int], factor: float, edges: tuple[bool, bool],
                  dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`grid_sample`'s [1, *fine, 2] grid of the fine samples' positions in a coarse field (cached: a rollout
    upsamples every frame on the same grids)."""
    rows, cols = (source_positions(n, factor, e) for n, e in zip(fine, edges))
    normalised = [2 * pos / max(size - 1, 1) - 1 for pos, size in zip((rows, cols), coarse)]
    grid_y, grid_x = torch.meshgrid(*normalised, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).to(dtype=dtype, device=device)[None]


def bicubic(values: torch.Tensor, shape: tuple[int, int], factor: float, edges: tuple[bool, bool]) -> torch.Tensor:
    """Interpolate [B, h, w] at the positions of a fine [B, *shape] field of the same kind."""
    grid = sampling_grid(tuple(values.shape[-2:]), tuple(shape), factor, edges, values.dtype, values.device)
    grid = grid.expand(values.shape[0], -1, -1, -1)
    return F.grid_sample(values[:, None], grid, mode="bicubic", padding_mode="border", align_corners=True)[:, 0]


def upsample_frame(frame: dict[str, torch.Tensor], factor: int) -> dict[str, torch.Tensor]:
    """Bicubic upsampling of a batch of stored fields (velocity faces, density) by an integer `factor`."""
    height, faces = frame["velocity_x"].shape[-2:]
    fine_h, fine_w = height * factor, (faces - 1) * factor
    shapes = {"velocity_x": (fine_h, fine_w + 1), "velocity_y": (fine_h + 1, fine_w), "density": (fine_h, fine_w)}
    return {name: bicubic(values, shapes[name], factor, FACE_AXES[name]) for name, values in frame.items()}


def upsample_to(frame: dict[str, torch.Tensor], fine: Resolution) -> dict[str, torch.Tensor]:
    """Bicubic upsampling of a batch of stored fields onto a finer grid of the same aspect by any factor (the
    benchmark's frontier scores a 80x40 rollout on the 128x64 grid so)."""
    height, width = frame["velocity_x"].shape[-2], frame["velocity_x"].shape[-1] - 1
    if fine.height * width != fine.width * height:
        raise FluidlossError(f"cannot upsample {Resolution(height, width)} to {fine}: not the same aspect")
    factor = fine.height / height
    shapes = {"velocity_x": (fine.height, fine.width + 1), "velocity_y": (fine.height + 1, fine.width),
              "density": (fine.height, fine.width)}
    return {name: bicubic(values, shapes[name], factor, FACE_AXES[name]) for name, values in frame.items()}


def super_resolve(model: nn.Module, frame: dict[str, torch.Tensor], factor: int) -> dict[str, torch.Tensor]:
    """A super-resolution network's fine frame: the bicubic upsampling of `frame` plus the residual the network
    predicts on the face grid. Learning only what bicubic misses is easier, and an untrained network (its output
    layer starts at zero) is exactly the bicubic baseline."""
    base = upsample_frame(frame, factor)
    height, faces = base["velocity_x"].shape[-2:]
    residual = from_grid(model(to_grid(frame)), Resolution(height, faces - 1), list(frame))
    return {name: base[name] + residual[name] for name in frame}
