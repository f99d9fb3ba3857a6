"""The loss registry that `train` and `evaluate` share: a name, or a weighted sum of names, becomes one nn.Module.

Every loss takes pred and ref [B, C, H, W], compares each channel as a scalar field, sums over channels and averages
over the batch; `field_loss` sums a loss over fields of differing shapes, such as the two faces of a staggered velocity.
"""

from collections.abc import Callable
from functools import partial
from importlib import import_module
from pathlib import Path

import torch

from fluidloss_cli.engine.loss_names import LOSS_CLASSES, parse_spec
from fluidloss_cli.engine.losses.backbones import ARCHS, squeezenet_features, torchvision_model
from fluidloss_cli.engine.losses.base import FieldLoss, PerceptualLoss, field_loss
from fluidloss_cli.engine.losses.combine import CombinedLoss
from fluidloss_cli.engine.losses.lpips_loss import TRUNKS, lpips_model
from fluidloss_cli.engine.losses.lsim import load_lsim, lsim_distance

__all__ = ["WEIGHT_LOADERS", "FieldLoss", "PerceptualLoss", "build_loss", "field_loss", "loss_class", "lsim_distance"]


def loss_class(name: str) -> Callable[[], FieldLoss]:
    """The constructor of registered loss `name` (`loss_names.LOSS_CLASSES`), importing its module on first use;
    constructors load their weights and fail at once when a file is missing."""
    cls, args = LOSS_CLASSES[name].cls, LOSS_CLASSES[name].args
    if isinstance(cls, str):
        module, _, attr = cls.partition(":")
        cls = getattr(import_module(f"fluidloss_cli.engine.losses.{module}"), attr)
    return partial(cls, *args)


WEIGHT_LOADERS: dict[str, Callable[[Path], object]] = {
    "lsim": load_lsim,
    **{name: partial(torchvision_model, name) for name in ARCHS},
    "squeezenet-features": squeezenet_features,
    **{f"lpips-{net}": partial(lpips_model, net, False) for net in TRUNKS},
}
"""Weight-file name -> loader of its network; loading a file is how its format is verified."""


def build_loss(spec: str, device: torch.device | str = "cpu") -> FieldLoss:
    """Build the loss for a spec such as "mse", "vgg3", "lpips-alex" or "mse+0.1*lsim" on `device`."""
    terms = parse_spec(spec)
    if len(terms) == 1 and terms[0][0] == 1.0:
        return loss_class(terms[0][1])().to(device)
    return CombinedLoss([(weight, loss_class(name)()) for weight, name in terms]).to(device)
