"""Semi-Lagrangian and MacCormack advection on the staggered grid, as PhiFlow's `advect.semi_lagrangian` and
`advect.mac_cormack` compute them (Euler back-trace, bilinear lookup, MacCormack's clamp to the 2 x 2 neighbours)."""

import torch

from fluidloss_cli.engine.native.grid import Extrapolation, Grid, at_centers, index_grids, vx_at_y_faces, vy_at_x_faces


def velocity(vx: torch.Tensor, vy: torch.Tensor, grid: Grid, dt: float | torch.Tensor,
             extrapolation: Extrapolation) -> tuple[torch.Tensor, torch.Tensor]:
    """Advect a staggered velocity by itself: each face traces back along the velocity sampled there and takes the
    bilinear value of its component at the foot point. Every face is updated (closed walls are zeroed by the caller)."""
    ix, iy = index_grids(vx.shape[-2:], vx.device, vx.dtype)
    vy_here = vy_at_x_faces(vy, extrapolation)
    new_vx = extrapolation.sample(vx, ix - dt * vx / grid.dx, iy - dt * vy_here / grid.dy, grid)
    ix, iy = index_grids(vy.shape[-2:], vy.device, vy.dtype)
    vx_here = vx_at_y_faces(vx, extrapolation)
    new_vy = extrapolation.sample(vy, ix - dt * vx_here / grid.dx, iy - dt * vy / grid.dy, grid)
    return new_vx, new_vy


def _foot_points(vx: torch.Tensor, vy: torch.Tensor, grid: Grid,
                 dt: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell indices reached from every cell centre in time dt ([B, H, W] each; negative dt traces back)."""
    ix, iy = index_grids(vx.shape[-2:-1] + vy.shape[-1:], vx.device, vx.dtype)
    ux, uy = at_centers(vx, vy)
    return ix + dt * ux / grid.dx, iy + dt * uy / grid.dy


def cells_semi_lagrangian(values: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, grid: Grid,
                          dt: float | torch.Tensor, extrapolation: Extrapolation) -> torch.Tensor:
    """Advect cell values [B, H, W] semi-Lagrangian with the velocity averaged to the centres."""
    return extrapolation.sample(values, *_foot_points(vx, vy, grid, -dt), grid)


def _neighbour_bounds(values: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor,
                      extrapolation: Extrapolation) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum and maximum of the 2 x 2 cells around each fractional index, indices brought into the grid by
    `extrapolation.index` (clamped, as PhiFlow's `closest_values` does, or wrapped around a periodic domain)."""
    h, w = values.shape[-2:]
    x0, y0 = torch.floor(ix).long(), torch.floor(iy).long()
    flat = values.flatten(-2)
    corners = []
    for cy in (y0, y0 + 1):
        for cx in (x0, x0 + 1):
            index = extrapolation.index(cy, h, 0) * w + extrapolation.index(cx, w, 0)
            corners.append(torch.gather(flat, -1, index.flatten(-2)).view_as(values))
    stacked = torch.stack(corners)
    return stacked.amin(0), stacked.amax(0)


def cells_mac_cormack(values: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, grid: Grid,
                      dt: float | torch.Tensor, extrapolation: Extrapolation) -> torch.Tensor:
    """MacCormack advection of cell values [B, H, W] (correction strength 1), clamped to the range of the four
    cells around each back-traced point; `extrapolation` continues the values outside (and clamps or wraps those
    four cells' indices)."""
    bx, by = _foot_points(vx, vy, grid, -dt)
    fx, fy = _foot_points(vx, vy, grid, dt)
    forward = extrapolation.sample(values, bx, by, grid)
    backward = extrapolation.sample(forward, fx, fy, grid)
    corrected = forward + 0.5 * (values - backward)
    low, high = _neighbour_bounds(values, bx, by, extrapolation)
    return torch.minimum(torch.maximum(corrected, low), high)
