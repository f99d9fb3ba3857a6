"""VGG-16 feature loss (Johnson et al. 2016): MSE between activations of torchvision's VGG-16 at one ReLU tap."""

import torch
from torch import nn

from fluidloss_cli.engine.losses.backbones import torchvision_model
from fluidloss_cli.engine.losses.base import PerceptualLoss

TAPS = {"relu1_2": 4, "relu2_2": 9, "relu3_3": 16, "relu4_3": 23}
"""Tap name -> number of leading layers of `vgg16().features` that end with that ReLU."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGLoss(PerceptualLoss):
    """Fields become RGB images in [0, 1], normalised with ImageNet statistics; the loss is the mean squared
    difference of the VGG-16 activations at `tap` (default relu3_3, the study's best)."""

    image_range = (0.0, 1.0)

    def __init__(self, tap: str = "relu3_3", features: nn.Sequential | None = None) -> None:
        """`features` replaces the ImageNet-trained `vgg16().features` (benchmarks use random weights)."""
        super().__init__()
        features = features if features is not None else torchvision_model("vgg16").features
        self.features = features[: TAPS[tap]]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.frozen()

    def compare(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-image mean squared activation difference [N]; both images run through VGG as one batch."""
        fa, fb = self.features((torch.cat([pred, ref]) - self.mean) / self.std).chunk(2)
        return (fa - fb).square().mean(dim=(1, 2, 3))
