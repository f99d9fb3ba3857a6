"""The loss registry that `train` and `evaluate` share: a name, or a weighted sum of names, becomes one nn.Module.

Every loss takes pred and ref [B, C, H, W], compares each channel as a scalar field, sums over channels and averages
over the batch; `field_loss` sums a loss over fields of differing shapes, such as the two faces of a staggered velocity.
"""

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from fluidloss_cli.engine.losses.backbones import ARCHS, squeezenet_features, torchvision_model
from fluidloss_cli.engine.losses.base import FieldLoss, PerceptualLoss, field_loss
from fluidloss_cli.engine.losses.combine import CombinedLoss, parse_spec
from fluidloss_cli.engine.losses.lpips_loss import TRUNKS, LPIPSLoss, lpips_model
from fluidloss_cli.engine.losses.lsim import LSiMLoss, load_lsim, lsim_distance
from fluidloss_cli.engine.losses.mae import MAELoss
from fluidloss_cli.engine.losses.mse import MSELoss
from fluidloss_cli.engine.losses.vgg import VGGLoss

__all__ = ["LOSSES", "WEIGHT_LOADERS", "FieldLoss", "PerceptualLoss", "build_loss", "field_loss", "lsim_distance"]

LOSSES: dict[str, Callable[[], FieldLoss]] = {
    "mse": MSELoss,
    "mae": MAELoss,
    "lsim": LSiMLoss,
    "vgg": partial(VGGLoss, "relu3_3"),
    "vgg1": partial(VGGLoss, "relu1_2"),
    "vgg2": partial(VGGLoss, "relu2_2"),
    "vgg3": partial(VGGLoss, "relu3_3"),
    "vgg4": partial(VGGLoss, "relu4_3"),
    "lpips": partial(LPIPSLoss, "alex"),
    **{f"lpips-{net}": partial(LPIPSLoss, net) for net in TRUNKS},
}
"""Loss name -> constructor; constructors load their weights and fail at once when a file is missing."""

WEIGHT_LOADERS: dict[str, Callable[[Path], object]] = {
    "lsim": load_lsim,
    **{name: partial(torchvision_model, name) for name in ARCHS},
    "squeezenet-features": squeezenet_features,
    **{f"lpips-{net}": partial(lpips_model, net, False) for net in TRUNKS},
}
"""Weight-file name -> loader of its network; loading a file is how its format is verified."""


def build_loss(spec: str, device: torch.device | str = "cpu") -> FieldLoss:
    """Build the loss for a spec such as "mse", "vgg3", "lpips-alex" or "mse+0.1*lsim" on `device`."""
    terms = parse_spec(spec, LOSSES)
    if len(terms) == 1 and terms[0][0] == 1.0:
        return LOSSES[terms[0][1]]().to(device)
    return CombinedLoss([(weight, LOSSES[name]()) for weight, name in terms]).to(device)
