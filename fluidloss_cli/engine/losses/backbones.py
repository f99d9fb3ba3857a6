"""ImageNet backbones from torchvision, built from local weight files: never downloaded, never randomly initialised."""

from pathlib import Path

import torch
import torchvision
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.weights import WEIGHTS, load_state, reason

ARCHS = {"vgg16": "vgg16", "alexnet": "alexnet", "squeezenet": "squeezenet1_1"}
"""Weight-file name -> torchvision model builder."""


def torchvision_model(name: str, path: Path | None = None) -> nn.Module:
    """torchvision's model for weight file `name`, filled from `path` (default: the installed file). It is built on
    the meta device and the file's tensors are assigned, so construction costs no random initialisation."""
    path = path or WEIGHTS[name].require()
    state = load_state(path)
    with torch.device("meta"):
        model = getattr(torchvision.models, ARCHS[name])(weights=None)
    try:
        model.load_state_dict(state, assign=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise FluidlossError(f"{path} is not a torchvision {ARCHS[name]} state dict: {reason(exc)}") from None
    return model.requires_grad_(False).eval()


def squeezenet_features(path: Path | None = None) -> nn.Module:
    """torchvision's SqueezeNet-1.1 `features` filled from a features-only file (default: the installed one), as
    LPIPS with the SqueezeNet backbone uses it."""
    path = path or WEIGHTS["squeezenet-features"].require()
    state = load_state(path)
    with torch.device("meta"):
        features = torchvision.models.squeezenet1_1(weights=None).features
    try:
        features.load_state_dict(state, assign=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise FluidlossError(f"{path} is not the features part of a torchvision squeezenet1_1 state dict: "
                             f"{reason(exc)}") from None
    return features.requires_grad_(False).eval()


def imagenet_features(name: str) -> dict[str, torch.Tensor]:
    """The `features` weights of backbone `name` (vgg16, alexnet, squeezenet) from its installed file; SqueezeNet's
    come from the features-only file when torchvision's full file is not installed."""
    if name == "squeezenet" and WEIGHTS["squeezenet"].locate() is None and \
            WEIGHTS["squeezenet-features"].locate() is not None:
        return squeezenet_features().state_dict()
    return torchvision_model(name).features.state_dict()
