"""LPIPS v0.1 (Zhang et al. 2018) from the `lpips` package, with trunk and linear weights from local files."""

import warnings
from pathlib import Path

import lpips
import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses.backbones import imagenet_features
from fluidloss_cli.engine.losses.base import PerceptualLoss
from fluidloss_cli.engine.weights import WEIGHTS, load_state

TRUNKS = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet"}
"""LPIPS backbone -> weight file of its ImageNet trunk."""


def lpips_model(net: str, imagenet_weights: bool = True, lins_path: Path | None = None) -> lpips.LPIPS:
    """An `lpips.LPIPS` model whose trunk comes from the torchvision weight file (random when not
    `imagenet_weights`, for benchmarks) and whose linear layers come from `lins_path` (default: the installed file)."""
    trunk = imagenet_features(TRUNKS[net]) if imagenet_weights else None
    lins_path = lins_path or WEIGHTS[f"lpips-{net}"].require()
    lins = load_state(lins_path)
    with warnings.catch_warnings():  # lpips builds its trunk with torchvision's deprecated `pretrained=False`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False)
    if trunk is not None:
        model.net.load_state_dict({key: trunk[key.split(".", 1)[1]] for key in model.net.state_dict()})
    expected = {k: v.shape for k, v in model.state_dict().items() if k.startswith("lin") and not k.startswith("lins.")}
    if not isinstance(lins, dict) or {k: getattr(v, "shape", None) for k, v in lins.items()} != expected:
        raise FluidlossError(f"{lins_path} is not an LPIPS v0.1 {net} linear-layer file (expected keys "
                             f"{', '.join(expected)} with the matching shapes)")
    model.load_state_dict(lins, strict=False)
    return model.requires_grad_(False).eval()


class LPIPSLoss(PerceptualLoss):
    """LPIPS on fields: each one-channel field pair is rescaled jointly to [-1, 1] and repeated to RGB."""

    image_range = (-1.0, 1.0)

    def __init__(self, net: str = "alex", imagenet_weights: bool = True) -> None:
        """LPIPS with backbone `net` (alex, vgg, squeeze); a random trunk when not `imagenet_weights` (benchmarks)."""
        super().__init__()
        self.model = lpips_model(net, imagenet_weights)
        self.frozen()

    def compare(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """LPIPS distances [N] of RGB images in [-1, 1]."""
        return self.model(pred, ref).view(-1)
