"""Staggered (MAC) grid operations on plain torch tensors in the dataset layout, for the native solver.

Velocity lives on every face: vx [B, H, W+1] at (x = i dx, y = (j + 1/2) dy) and vy [B, H+1, W] at
(x = (i + 1/2) dx, y = j dy); cell values c [B, H, W] sit at ((i + 1/2) dx, (j + 1/2) dy); row j is y, column i is x.
Outside the grid a field continues as PhiFlow's extrapolations do: `BORDER` repeats the edge value (PhiFlow's
ZERO_GRADIENT / BOUNDARY), `ZEROS` is zero (PhiFlow's ZERO, closed walls whose wall faces hold zeros).
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Mode = Literal["border", "zeros"]
BORDER: Mode = "border"
ZEROS: Mode = "zeros"


@dataclass(frozen=True)
class Grid:
    """Cells along y (height) and x (width) and their spacings in domain units."""

    height: int
    width: int
    dx: float
    dy: float


def pad(t: torch.Tensor, left: int, right: int, bottom: int, top: int, mode: Mode) -> torch.Tensor:
    """Pad the last two axes ([.., y, x]) by the extrapolation `mode`."""
    widths = (left, right, bottom, top)
    if mode == BORDER:
        return F.pad(t.unsqueeze(1), widths, mode="replicate").squeeze(1)
    return F.pad(t, widths)


def sample(values: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, mode: Mode) -> torch.Tensor:
    """Bilinear values of `values` [B, h, w] at fractional indices (ix along w, iy along h) [B, ...2-D], continued
    outside by `mode`: the arithmetic of PhiFlow's `grid_sample` (torch's, corners aligned)."""
    h, w = values.shape[-2:]
    coords = torch.stack([2 * ix / (w - 1) - 1, 2 * iy / (h - 1) - 1], dim=-1)
    return F.grid_sample(values.unsqueeze(1), coords, mode="bilinear", padding_mode=mode, align_corners=True).squeeze(1)


def vy_at_x_faces(vy: torch.Tensor, mode: Mode) -> torch.Tensor:
    """vy [B, H+1, W] averaged to the x-faces [B, H, W+1] (four neighbours, continued outside by `mode`)."""
    p = pad(vy, 1, 1, 0, 0, mode)
    return 0.25 * (p[:, :-1, :-1] + p[:, :-1, 1:] + p[:, 1:, :-1] + p[:, 1:, 1:])


def vx_at_y_faces(vx: torch.Tensor, mode: Mode) -> torch.Tensor:
    """vx [B, H, W+1] averaged to the y-faces [B, H+1, W] (four neighbours, continued outside by `mode`)."""
    p = pad(vx, 0, 0, 1, 1, mode)
    return 0.25 * (p[:, :-1, :-1] + p[:, :-1, 1:] + p[:, 1:, :-1] + p[:, 1:, 1:])


def at_centers(vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both velocity components averaged to the cell centres [B, H, W]."""
    return 0.5 * (vx[..., :-1] + vx[..., 1:]), 0.5 * (vy[..., :-1, :] + vy[..., 1:, :])


def divergence(vx: torch.Tensor, vy: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Cell divergence [B, H, W] of a staggered velocity that stores every face."""
    return torch.diff(vx, dim=-1) / grid.dx + torch.diff(vy, dim=-2) / grid.dy


def laplace(values: torch.Tensor, grid: Grid, mode: Mode) -> torch.Tensor:
    """5-point Laplacian of one face or cell component [B, h, w], its outside continued by `mode`."""
    p = pad(values, 1, 1, 1, 1, mode)
    centre = p[:, 1:-1, 1:-1]
    return (p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 2 * centre) / grid.dx**2 \
        + (p[:, :-2, 1:-1] + p[:, 2:, 1:-1] - 2 * centre) / grid.dy**2


def staggered_laplace(vx: torch.Tensor, vy: torch.Tensor, grid: Grid,
                      mode: Mode) -> tuple[torch.Tensor, torch.Tensor]:
    """Laplacian of both components, zero on the outer faces normal to the boundary: PhiFlow's staggered `laplace`
    continues the result by the gradient of the extrapolation (zero for zero-gradient), so explicit diffusion
    leaves those faces as they are."""
    lx, ly = laplace(vx, grid, mode), laplace(vy, grid, mode)
    return F.pad(lx[..., 1:-1], (1, 1)), F.pad(ly[..., 1:-1, :], (0, 0, 1, 1))


def index_grids(shape: tuple[int, int], device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Column and row indices (ix, iy) [h, w] of an h x w array."""
    iy, ix = torch.meshgrid(torch.arange(shape[0], device=device, dtype=dtype),
                            torch.arange(shape[1], device=device, dtype=dtype), indexing="ij")
    return ix, iy
