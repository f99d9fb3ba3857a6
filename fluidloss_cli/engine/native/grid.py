"""Staggered (MAC) grid operations on plain torch tensors in the dataset layout, for the native solver.

Velocity lives on every face: vx [B, H, W+1] at (x = i dx, y = (j + 1/2) dy) and vy [B, H+1, W] at
(x = (i + 1/2) dx, y = j dy); cell values c [B, H, W] sit at ((i + 1/2) dx, (j + 1/2) dy); row j is y, column i is x.
How a field continues outside the grid is a value passed with it, as PhiFlow's extrapolations are: `ZERO_GRADIENT`
repeats the edge value (open boundaries), `ZERO` is zero (closed walls, whose wall faces hold zeros), `PERIODIC`
wraps around (the last face along a staggered axis is then the first one again, stored twice as every face is).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Grid:
    """Cells along y (height) and x (width) and their spacings in domain units."""

    height: int
    width: int
    dx: float
    dy: float

    @classmethod
    def on(cls, resolution: tuple[int, int], domain_size: tuple[float, float]) -> "Grid":
        """The grid of `resolution` (height, width cells) over a scene's `domain_size` (height, width units)."""
        (height, width), (extent_y, extent_x) = resolution, domain_size
        return cls(height, width, extent_x / width, extent_y / height)

    def stored_ends(self, values: torch.Tensor) -> tuple[int, int]:
        """(along x, along y): 1 where `values` [.., h, w] is a face component along that axis (it stores both end
        faces, one more than the cells), else 0."""
        return int(values.shape[-1] == self.width + 1), int(values.shape[-2] == self.height + 1)


@dataclass(frozen=True)
class Extrapolation:
    """How values continue beyond the grid's edge on every side; `torch_mode` is the matching padding of torch's
    `F.pad` (`replicate`, `constant`) and `grid_sample` (`border`, `zeros`), or `circular` for the periodic wrap."""

    name: str
    torch_mode: str

    @property
    def wraps(self) -> bool:
        """Whether the domain is periodic: no boundary face is held fixed, indices wrap."""
        return self.torch_mode == "circular"

    def pad(self, t: torch.Tensor, left: int, right: int, bottom: int, top: int,
            ends: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """Pad the last two axes ([.., y, x]) by this extrapolation; `ends` (see `Grid.stored_ends`) says along which
        padded axis `t` stores both end faces, which a periodic wrap skips (face W is face 0 again)."""
        if not self.wraps:
            widths = (left, right, bottom, top)
            if self.torch_mode == "replicate":
                return F.pad(t.unsqueeze(1), widths, mode="replicate").squeeze(1)
            return F.pad(t, widths)
        return _wrap(_wrap(t, -1, left, right, ends[0]), -2, bottom, top, ends[1])

    def sample(self, values: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, grid: Grid) -> torch.Tensor:
        """Bilinear values of `values` [B, h, w] at fractional indices (ix along w, iy along h) [B, ...2-D], continued
        outside by this extrapolation: the arithmetic of PhiFlow's `grid_sample` (torch's, corners aligned)."""
        if self.wraps:
            ex, ey = grid.stored_ends(values)
            values = self.pad(values, 0, 1 - ex, 0, 1 - ey, (ex, ey))  # one period plus its first slice again
            ix, iy = torch.remainder(ix, values.shape[-1] - 1), torch.remainder(iy, values.shape[-2] - 1)
        h, w = values.shape[-2:]
        coords = torch.stack([2 * ix / (w - 1) - 1, 2 * iy / (h - 1) - 1], dim=-1)
        mode = "zeros" if self.torch_mode == "constant" else "border"
        return F.grid_sample(values.unsqueeze(1), coords, mode="bilinear", padding_mode=mode,
                             align_corners=True).squeeze(1)

    def index(self, i: torch.Tensor, size: int, end: int) -> torch.Tensor:
        """Integer indices `i` along an axis of `size` entries brought into it: wrapped around the period (`size`
        less a stored end) when periodic, else clamped to the edge (PhiFlow's `closest_values`)."""
        return torch.remainder(i, size - end) if self.wraps else i.clamp(0, size - 1)


def _wrap(t: torch.Tensor, dim: int, before: int, after: int, end: int) -> torch.Tensor:
    """`t` continued periodically along `dim` by `before` and `after` entries; with `end` = 1 its last entry is its
    first one again (a face component along a staggered axis) and is not repeated."""
    n = t.shape[dim]
    if before > n - end or after > n - end:
        raise ValueError(f"cannot wrap {before}/{after} entries around a period of {n - end}")
    parts = [t.narrow(dim, n - end - before, before), t, t.narrow(dim, end, after)]
    return torch.cat(parts, dim=dim)


ZERO_GRADIENT = Extrapolation("zero-gradient", "replicate")
"""Edge values repeated outward: open boundaries, PhiFlow's ZERO_GRADIENT / BOUNDARY."""
ZERO = Extrapolation("zero", "constant")
"""Zero outside: closed walls, PhiFlow's ZERO."""
PERIODIC = Extrapolation("periodic", "circular")
"""Wrapped around: PhiFlow's PERIODIC."""


def vy_at_x_faces(vy: torch.Tensor, extrapolation: Extrapolation) -> torch.Tensor:
    """vy [B, H+1, W] averaged to the x-faces [B, H, W+1] (four neighbours, continued outside by `extrapolation`)."""
    p = extrapolation.pad(vy, 1, 1, 0, 0)
    return 0.25 * (p[:, :-1, :-1] + p[:, :-1, 1:] + p[:, 1:, :-1] + p[:, 1:, 1:])


def vx_at_y_faces(vx: torch.Tensor, extrapolation: Extrapolation) -> torch.Tensor:
    """vx [B, H, W+1] averaged to the y-faces [B, H+1, W] (four neighbours, continued outside by `extrapolation`)."""
    p = extrapolation.pad(vx, 0, 0, 1, 1)
    return 0.25 * (p[:, :-1, :-1] + p[:, :-1, 1:] + p[:, 1:, :-1] + p[:, 1:, 1:])


def at_centers(vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both velocity components averaged to the cell centres [B, H, W]."""
    return 0.5 * (vx[..., :-1] + vx[..., 1:]), 0.5 * (vy[..., :-1, :] + vy[..., 1:, :])


def divergence(vx: torch.Tensor, vy: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Cell divergence [B, H, W] of a staggered velocity that stores every face."""
    return torch.diff(vx, dim=-1) / grid.dx + torch.diff(vy, dim=-2) / grid.dy


def laplace(values: torch.Tensor, grid: Grid, extrapolation: Extrapolation) -> torch.Tensor:
    """5-point Laplacian of one face or cell component [B, h, w], its outside continued by `extrapolation`."""
    p = extrapolation.pad(values, 1, 1, 1, 1, grid.stored_ends(values))
    centre = p[:, 1:-1, 1:-1]
    return (p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 2 * centre) / grid.dx**2 \
        + (p[:, :-2, 1:-1] + p[:, 2:, 1:-1] - 2 * centre) / grid.dy**2


def staggered_laplace(vx: torch.Tensor, vy: torch.Tensor, grid: Grid,
                      extrapolation: Extrapolation) -> tuple[torch.Tensor, torch.Tensor]:
    """Laplacian of both components. With an edge, zero on the outer faces normal to it: PhiFlow's staggered
    `laplace` continues the result by the gradient of the extrapolation (zero for zero-gradient), so explicit
    diffusion leaves those faces as they are; a periodic domain has no such faces."""
    lx, ly = laplace(vx, grid, extrapolation), laplace(vy, grid, extrapolation)
    if extrapolation.wraps:
        return lx, ly
    return F.pad(lx[..., 1:-1], (1, 1)), F.pad(ly[..., 1:-1, :], (0, 0, 1, 1))


def index_grids(shape: tuple[int, int], device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Column and row indices (ix, iy) [h, w] of an h x w array."""
    iy, ix = torch.meshgrid(torch.arange(shape[0], device=device, dtype=dtype),
                            torch.arange(shape[1], device=device, dtype=dtype), indexing="ij")
    return ix, iy
