"""The residual correction network of Um et al. 2020 (solver-in-the-loop), the model every loss is compared on."""

import torch
import torch.nn.functional as F
from torch import nn


class SolNet(nn.Module):
    """[B, C_in, H, W] -> [B, C_out, H, W]: a conv to `width` channels, `blocks` residual blocks of two convs, a conv
    to the output; every conv is `kernel_size` square with 'same' padding, ReLU after the stem and after each block.
    At the defaults (5x5, width 32, two blocks) it has about 0.1M parameters. The output conv starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, blocks: int = 2, kernel_size: int = 5):
        """Build the layers; width and blocks set the capacity, kernel_size the receptive field."""
        super().__init__()

        def conv(c_in: int, c_out: int) -> nn.Conv2d:
            """A size-preserving square convolution."""
            return nn.Conv2d(c_in, c_out, kernel_size, padding="same")

        self.stem = conv(in_channels, width)
        self.blocks = nn.ModuleList(nn.Sequential(conv(width, width), nn.ReLU(), conv(width, width))
                                    for _ in range(blocks))
        self.head = conv(width, out_channels)
        nn.init.zeros_(self.head.weight)  # an untrained correction is zero: training starts from the plain solver
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply stem, residual blocks and output conv."""
        h = F.relu(self.stem(x))
        for block in self.blocks:
            h = F.relu(h + block(h))
        return self.head(h)
