"""Frames as network tensors: a batch's fields <-> one grid [B, C, H+1, W+1], and the loss of a predicted frame.

Channels are velocity x and y (stacked staggered on the face grid) and, where the scene has it, density
(zero-padded on the right and top to the same grid)."""

import torch
import torch.nn.functional as F
from torch import nn

from fluidloss_cli.engine.data.schema import FRAME_FIELDS
from fluidloss_cli.engine.fields import stack_staggered, unstack_staggered
from fluidloss_cli.engine.losses import field_loss
from fluidloss_cli.engine.resolution import Resolution

Frame = dict[str, torch.Tensor]
"""Field name -> [B, ...] in its stored shape (velocity on faces, density on cells)."""


def frame_fields(batch: dict) -> Frame:
    """The frame fields of a batch of one-frame windows ([B, 1, ...] -> [B, ...])."""
    return {name: batch[name][:, 0] for name in FRAME_FIELDS if name in batch}


def to_grid(frame: Frame) -> torch.Tensor:
    """Stack a frame's fields on its (H+1) x (W+1) face grid: [B, 2 or 3, H+1, W+1]."""
    grid = stack_staggered(frame["velocity_x"], frame["velocity_y"])
    if "density" in frame:
        grid = torch.cat([grid, F.pad(frame["density"], (0, 1, 0, 1)).unsqueeze(1)], dim=1)
    return grid


def from_grid(grid: torch.Tensor, resolution: Resolution, names: list[str]) -> Frame:
    """Invert `to_grid` for an H x W cell grid, cropping a larger grid; `names` says whether density is there."""
    height, width = resolution
    vx, vy = unstack_staggered(grid[:, :2], height, width)
    frame = {"velocity_x": vx, "velocity_y": vy}
    if "density" in names:
        frame["density"] = grid[:, 2, :height, :width]
    return frame


def prediction_loss(model: nn.Module, loss: nn.Module, inputs: Frame, target: Frame) -> torch.Tensor:
    """Run the model on `inputs` and compare its prediction with `target` field by field (velocity as
    F(X, X') + F(Y, Y'), plus density where present)."""
    rows, faces = target["velocity_x"].shape[-2:]
    resolution = Resolution(rows, faces - 1)
    pred = from_grid(model(to_grid(inputs)), resolution, list(target))
    return field_loss(loss, [pred[n] for n in target], list(target.values()))
