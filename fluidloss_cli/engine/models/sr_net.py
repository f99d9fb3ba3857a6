"""The super-resolution network: residual blocks on the coarse grid, then pixel-shuffle upsampling (EDSR style)."""

import torch
from torch import nn

from fluidloss_cli.engine.defaults import SR_FACTORS as FACTORS
from fluidloss_cli.engine.errors import FluidlossError


def conv3(c_in: int, c_out: int) -> nn.Conv2d:
    """A size-preserving 3x3 convolution."""
    return nn.Conv2d(c_in, c_out, 3, padding=1)


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))), both convolutions 3x3 at a constant width."""

    def __init__(self, width: int):
        """Two 3x3 convolutions of `width` channels."""
        super().__init__()
        self.body = nn.Sequential(conv3(width, width), nn.ReLU(), conv3(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the block's output to its input."""
        return x + self.body(x)


class SRNet(nn.Module):
    """[B, C_in, h, w] -> [B, C_out, factor*h, factor*w]: a stem, `blocks` residual blocks with a long skip, one
    conv + PixelShuffle(2) + ReLU stage per factor of 2, and an output conv; all convolutions are 3x3."""

    def __init__(self, in_channels: int, out_channels: int, factor: int = 2, width: int = 32, blocks: int = 4):
        """Build the layers; `factor` is 2 or 4, width and blocks set the capacity."""
        super().__init__()
        if factor not in FACTORS:
            raise FluidlossError(f"super-resolution factor must be one of {FACTORS}, got {factor}")
        self.stem = conv3(in_channels, width)
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)), conv3(width, width))
        self.upsample = nn.Sequential(*(layer for _ in range(factor.bit_length() - 1)
                                        for layer in (conv3(width, 4 * width), nn.PixelShuffle(2), nn.ReLU())))
        self.head = conv3(width, out_channels)
        nn.init.zeros_(self.head.weight)  # the output is a residual on bicubic upsampling: it starts at zero
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features on the coarse grid, upsampled, mapped to the output channels."""
        h = self.stem(x)
        return self.head(self.upsample(h + self.body(h)))
