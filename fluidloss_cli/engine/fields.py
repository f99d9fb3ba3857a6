"""Fluid fields as tensors: staggered velocity and frames <-> network grids, and fields -> images for perceptual losses.

A staggered velocity is a pair (vx, vy): vx [B, H, W+1] on x-faces, vy [B, H+1, W] on y-faces (row = y, column = x).
"""

import torch
import torch.nn.functional as F

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution

Frame = dict[str, torch.Tensor]
"""Field name -> [B, ...] in its stored shape (velocity on faces, density on cells)."""

MIN_SIDE = 64
"""Smallest side a perceptual network sees: LPIPS was trained on 64x64 patches and LSiM's deepest maps are 2x2 there
(below 44 px it fails outright). Smaller fields are enlarged (`upsample_to_min`), never padded."""


def _check_staggered(vx: torch.Tensor, vy: torch.Tensor) -> None:
    """Raise unless (vx, vy) are the two face components of one staggered grid."""
    if vx.ndim != 3 or vy.ndim != 3 or vy.shape != (vx.shape[0], vx.shape[1] + 1, vx.shape[2] - 1):
        raise FluidlossError(
            f"staggered velocity needs vx [B, H, W+1] and vy [B, H+1, W]; got {list(vx.shape)} and {list(vy.shape)}"
        )


def stack_staggered(vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """Zero-pad both components to the (H+1) x (W+1) face grid and stack them: [B, 2, H+1, W+1], a network input."""
    _check_staggered(vx, vy)
    return torch.stack([F.pad(vx, (0, 0, 0, 1)), F.pad(vy, (0, 1, 0, 0))], dim=1)


def pad_cells(values: torch.Tensor) -> torch.Tensor:
    """Zero-pad cell values [..., H, W] on the right and top to the (H+1) x (W+1) face grid of `stack_staggered`."""
    return F.pad(values, (0, 1, 0, 1))


def unstack_staggered(t: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert `stack_staggered` for an H x W cell grid: [B, 2, >=H+1, >=W+1] -> (vx [B, H, W+1], vy [B, H+1, W])."""
    if t.ndim != 4 or t.shape[1] != 2 or t.shape[2] < h + 1 or t.shape[3] < w + 1:
        raise FluidlossError(f"unstack_staggered: expected [B, 2, {h + 1}, {w + 1}], got {list(t.shape)}")
    return t[:, 0, :h, : w + 1], t[:, 1, : h + 1, :w]


def upsample_to_min(images: torch.Tensor, min_side: int = MIN_SIDE) -> torch.Tensor:
    """Enlarge [N, C, H, W] by the smallest whole factor k that makes both sides at least `min_side`, repeating every
    value k x k times (nearest neighbour). Each row and column keeps exactly its share of the image, so the boundary
    weighs what its area does; replicating edge values instead made two boundary columns half of a 64x32 field's
    image. It adds no new values, so it commutes with the joint rescale and keeps d(x, x) = 0."""
    factor = -(-min_side // min(images.shape[-2:]))
    if factor <= 1:
        return images
    return images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def rescale_jointly(a: torch.Tensor, b: torch.Tensor, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Map each image pair (a[n, c], b[n, c]) of [N, C, H, W] linearly so their joint minimum is `low` and maximum is
    `high`, as LSiM's official transform does; a constant pair maps to `low`."""
    lo = torch.minimum(a.amin(dim=(2, 3), keepdim=True), b.amin(dim=(2, 3), keepdim=True))
    span = torch.maximum(a.amax(dim=(2, 3), keepdim=True), b.amax(dim=(2, 3), keepdim=True)) - lo
    scale = (high - low) / torch.where(span > 0, span, torch.ones_like(span))
    return (a - lo) * scale + low, (b - lo) * scale + low


def image_pair(pred: torch.Tensor, ref: torch.Tensor, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn one-channel fields [N, 1, H, W] into the RGB images [N, 3, H', W'] a perceptual network compares, as the
    lpips package feeds images: joint rescale to [low, high], repeat to three channels, enlarged to `MIN_SIDE`."""
    a, b = rescale_jointly(upsample_to_min(pred), upsample_to_min(ref), low, high)
    return a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)


def to_grid(frame: Frame) -> torch.Tensor:
    """Stack a frame's fields on its (H+1) x (W+1) face grid: [B, 2 or 3, H+1, W+1]."""
    grid = stack_staggered(frame["velocity_x"], frame["velocity_y"])
    if "density" in frame:
        grid = torch.cat([grid, pad_cells(frame["density"]).unsqueeze(1)], dim=1)
    return grid


def from_grid(grid: torch.Tensor, resolution: Resolution, names: list[str]) -> Frame:
    """Invert `to_grid` for an H x W cell grid, cropping a larger grid; `names` says whether density is there."""
    height, width = resolution
    vx, vy = unstack_staggered(grid[:, :2], height, width)
    frame = {"velocity_x": vx, "velocity_y": vy}
    if "density" in names:
        frame["density"] = grid[:, 2, :height, :width]
    return frame
