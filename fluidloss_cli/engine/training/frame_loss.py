"""Frames in training: the frame fields of a batch, and the loss of a frame a network predicts from another."""

import torch
from torch import nn

from fluidloss_cli.engine.data.schema import FRAME_FIELDS
from fluidloss_cli.engine.fields import Frame, from_grid, to_grid
from fluidloss_cli.engine.losses import field_loss
from fluidloss_cli.engine.resolution import Resolution


def frame_fields(batch: dict) -> Frame:
    """The frame fields of a batch of one-frame windows ([B, 1, ...] -> [B, ...])."""
    return {name: batch[name][:, 0] for name in FRAME_FIELDS if name in batch}


def prediction_loss(model: nn.Module, loss: nn.Module, inputs: Frame, target: Frame) -> torch.Tensor:
    """Run the model on `inputs` and compare its prediction with `target` field by field (velocity as
    F(X, X') + F(Y, Y'), plus density where present)."""
    rows, faces = target["velocity_x"].shape[-2:]
    resolution = Resolution(rows, faces - 1)
    pred = from_grid(model(to_grid(inputs)), resolution, list(target))
    return field_loss(loss, [pred[n] for n in target], list(target.values()))
