"""LSiM, the learned simulation metric (Kohl, Um, Thuerey, ICML 2020), in plain torch with the official checkpoint.

`LSiMLoss` (the training loss and metric on fields) and `lsim_distance` (the official `computeDistance`) feed the network
through one function, `lsim_images`: nearest-neighbour resize to 224x224, joint rescale to [0, 255], three channels.
"""

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import rescale_jointly, upsample_to_min
from fluidloss_cli.engine.losses.base import PerceptualLoss, check_pair
from fluidloss_cli.engine.weights import WEIGHTS, load_state, reason

CHANNELS = (32, 96, 192, 128, 128)
"""Feature channels of the five slices of the base network."""


def _base_network() -> nn.ModuleDict:
    """The five slices of LSiM's base network, named as in the official checkpoint (basenet.sliceK.I)."""
    return nn.ModuleDict({
        "slice1": nn.Sequential(nn.Conv2d(3, 32, 12, stride=4, padding=2), nn.ReLU()),
        "slice2": nn.Sequential(nn.MaxPool2d(4, stride=2), nn.Conv2d(32, 96, 5, padding=2), nn.ReLU()),
        "slice3": nn.Sequential(nn.MaxPool2d(4, stride=2), nn.Conv2d(96, 192, 3, padding=1), nn.ReLU()),
        "slice4": nn.Sequential(nn.Conv2d(192, 128, 3, padding=1), nn.ReLU()),
        "slice5": nn.Sequential(nn.Conv2d(128, 128, 3, padding=1), nn.ReLU()),
    })


def sqrt0(x: torch.Tensor) -> torch.Tensor:
    """Square root whose gradient at 0 is 0 rather than infinite, so d(x, x) = 0 does not make gradients NaN."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


class LSiMNet(nn.Module):
    """The official LSiM model: images [N, 3, H, W] (or [N, 1, H, W], grayscale) in [0, 255] -> distances [N].

    Each slice's features are standardised per position with the stored statistics (computed at 224x224 input and
    resampled bilinearly with aligned corners for other sizes) and divided by sqrt(channels) - 1; the squared
    difference is weighted by the non-negative 1x1 weights, averaged over space, summed over slices, square-rooted.
    The stored mean cancels in the difference of two standardised maps, so only the variance is kept.
    """

    def __init__(self) -> None:
        """An empty network (zero weights); `from_file` fills it from a checkpoint."""
        super().__init__()
        self.basenet = _base_network()
        self.lins = nn.ParameterList([torch.zeros(c) for c in CHANNELS])
        self.variances = nn.ParameterList([torch.ones(1, 1) for _ in CHANNELS])

    @classmethod
    def from_file(cls, path: Path) -> "LSiMNet":
        """Load the official checkpoint (stateDict, normM2, normCount); a foreign file raises a FluidlossError."""
        ckpt = load_state(path)
        net = cls()
        try:
            state = ckpt["stateDict"]
            net.basenet.load_state_dict({k.removeprefix("basenet."): v for k, v in state.items()
                                         if k.startswith("basenet.")})
            for i, lin in enumerate(net.lins):
                lin.data.copy_(state[f"lin{i}.1.weight"].clamp(min=0).view(-1))
            variances = [m2 / (count - 1) for m2, count in zip(ckpt["normM2"], ckpt["normCount"], strict=True)]
            if len(variances) != len(CHANNELS) or any(v.ndim != 2 for v in variances):
                raise ValueError("normM2 must hold five 2-D maps")
            net.variances = nn.ParameterList(variances)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise FluidlossError(f"{path} is not an LSiM checkpoint: {reason(exc)}") from None
        return net

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The five slices' feature maps of images [N, C, H, W]; a grayscale image (C = 1) runs as its RGB repeat
        would, with the first convolution's weights summed over the three colours (a third of its work)."""
        first = self.basenet["slice1"][0]
        if images.shape[1] == 1:
            h = F.relu(F.conv2d(images, first.weight.sum(dim=1, keepdim=True), first.bias, first.stride, first.padding))
        else:
            h = self.basenet["slice1"](images)
        maps = [h]
        for block in list(self.basenet.values())[1:]:
            maps.append(h := block(h))
        return maps

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LSiM distance of each image pair (a[n], b[n]) of [N, 3 or 1, H, W]; b's features are computed without a
        graph when b needs no gradient (a loss's reference), which saves a third of a training step."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and b.requires_grad):
            reference = self.features(b)
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for fa, fb, lin, var in zip(self.features(a), reference, self.lins, self.variances):
            if var.shape != fa.shape[-2:]:
                var = F.interpolate(var[None, None], size=fa.shape[-2:], mode="bilinear", align_corners=True)[0, 0]
            diff = (fa - fb) / ((var.sqrt() + 1e-10) * (math.sqrt(fa.shape[1]) - 1))
            total = total + torch.einsum("nchw,c->n", diff.square(), lin) / (fa.shape[-2] * fa.shape[-1])
        return sqrt0(total)


def load_lsim(path: Path | None = None) -> LSiMNet:
    """The frozen LSiM network from `path`, or from the installed LSiM.pth."""
    return LSiMNet.from_file(path or WEIGHTS["lsim"].require()).requires_grad_(False).eval()


OFFICIAL_SIZE = 224
"""Side of the square images the official `computeDistance` resizes both inputs to."""


def resize_nearest(images: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour resize of [N, C, H, W] to size x size, sampling like scipy.ndimage.zoom(order=0): output i
    reads input round-half-up(i * (n_in - 1) / (n_out - 1)), in exact integer arithmetic."""
    def indices(n_in: int) -> torch.Tensor:
        """Input index of every output sample along an axis of length n_in."""
        i = torch.arange(size, device=images.device)
        return (2 * i * (n_in - 1) + (size - 1)) // (2 * (size - 1)) if size > 1 else torch.zeros_like(i)

    return images.index_select(-2, indices(images.shape[-2])).index_select(-1, indices(images.shape[-1]))


def lsim_images(a: torch.Tensor, b: torch.Tensor, size: int | None = OFFICIAL_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """The images [N, C, size, size] the official recipe feeds LSiM for two images [N, C, H, W] (C = 1 or 3): resized
    nearest-neighbour to size x size (native size, enlarged to 64 px, when size is None), each channel rescaled
    jointly over both inputs to [0, 255]; the network takes one channel as its repeat to RGB (`LSiMNet.features`)."""
    if size is None:
        a, b = upsample_to_min(a), upsample_to_min(b)
    else:
        a, b = resize_nearest(a, size), resize_nearest(b, size)
    return rescale_jointly(a, b, 0.0, 255.0)


class LSiMLoss(PerceptualLoss):
    """LSiM as a loss on fields, fed as the official `computeDistance` feeds it (`lsim_images`): each one-channel field
    pair, a staggered velocity component for instance (Kohl et al., eq. 5.1), is one 224x224 image pair."""

    def __init__(self, net: LSiMNet | None = None) -> None:
        """Use `net`, or load the installed official weights."""
        super().__init__()
        self.net = net if net is not None else load_lsim()
        self.frozen()

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """LSiM distances [N] of one-channel fields [N, 1, H, W]."""
        return self.net(*lsim_images(pred, ref))


@lru_cache(maxsize=2)
def _cached_lsim(path: Path) -> LSiMNet:
    """One loaded network per weight file, for repeated `lsim_distance` calls."""
    return load_lsim(path)


def lsim_distance(ref: ArrayLike, other: ArrayLike, resize_to: int | None = OFFICIAL_SIZE) -> float:
    """LSiM distance of two arrays [H, W, C] (C = 1 or 3), as the official `computeDistance` (`lsim_images`); with
    `resize_to` None the network sees them at native size (enlarged to 64 px when smaller), as its authors' later
    training code does."""
    a, b = (torch.from_numpy(np.array(x, dtype=np.float64)) for x in (ref, other))
    if a.ndim != 3 or a.shape != b.shape or a.shape[-1] not in (1, 3):
        raise FluidlossError(f"lsim_distance needs two arrays [H, W, C] of one shape with C = 1 or 3, got "
                             f"{list(a.shape)} and {list(b.shape)}")
    a, b = (x.permute(2, 0, 1)[None] for x in (a, b))
    check_pair(a, b)
    a, b = lsim_images(a, b, resize_to)
    with torch.no_grad():
        return float(_cached_lsim(WEIGHTS["lsim"].require())(a.float(), b.float())[0])
