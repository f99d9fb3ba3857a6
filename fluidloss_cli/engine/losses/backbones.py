"""ImageNet backbones from torchvision, built from local weight files: never downloaded, never randomly initialised."""

from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.weights import WEIGHTS, load_state, reason

ARCHS = {"vgg16": "vgg16", "alexnet": "alexnet", "squeezenet": "squeezenet1_1"}
"""Weight-file name -> torchvision model builder."""


def filled(build: Callable[[], nn.Module], path: Path, what: str) -> nn.Module:
    """`build()`, frozen, its weights the tensors of the file at `path`. It is built on the meta device and the
    file's tensors are assigned, so construction costs no random initialisation; a file that does not fit is one
    line naming `what` it should be."""
    state = load_state(path)
    with torch.device("meta"):
        module = build()
    try:
        module.load_state_dict(state, assign=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise FluidlossError(f"{path} is not {what}: {reason(exc)}") from None
    return module.requires_grad_(False).eval()


def torchvision_model(name: str, path: Path | None = None) -> nn.Module:
    """torchvision's model for weight file `name`, filled from `path` (default: the installed file)."""
    return filled(lambda: getattr(torchvision.models, ARCHS[name])(weights=None), path or WEIGHTS[name].require(),
                  f"a torchvision {ARCHS[name]} state dict")


def squeezenet_features(path: Path | None = None) -> nn.Module:
    """torchvision's SqueezeNet-1.1 `features` filled from a features-only file (default: the installed one), as
    LPIPS with the SqueezeNet backbone uses it."""
    return filled(lambda: torchvision.models.squeezenet1_1(weights=None).features,
                  path or WEIGHTS["squeezenet-features"].require(),
                  "the features part of a torchvision squeezenet1_1 state dict")


def imagenet_features(name: str) -> dict[str, torch.Tensor]:
    """The `features` weights of backbone `name` (vgg16, alexnet, squeezenet) from its installed file; SqueezeNet's
    come from the features-only file when torchvision's full file is not installed."""
    if name == "squeezenet" and WEIGHTS["squeezenet"].locate() is None and \
            WEIGHTS["squeezenet-features"].locate() is not None:
        return squeezenet_features().state_dict()
    return torchvision_model(name).features.state_dict()
