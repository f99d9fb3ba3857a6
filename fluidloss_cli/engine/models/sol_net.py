"""The residual correction network of Um et al. 2020 (solver-in-the-loop), the model every loss is compared on."""

import torch
from torch import nn

from fluidloss_cli.engine.defaults import ACTIVATIONS

NONLINEARITIES = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}
"""`--activation` name -> its module (`defaults.ACTIVATIONS` lists the names); none has weights, so a checkpoint's
state is the same for every one."""


class SolNet(nn.Module):
    """[B, C_in, H, W] -> [B, C_out, H, W]: a conv to `width` channels, `blocks` residual blocks of two convs, a conv
    to the output; every conv is `kernel_size` square with 'same' padding, the `activation` (ReLU; the PBDL book's
    LeakyReLU) after the stem and after each block. At the defaults (5x5, width 32, two blocks) it has about 0.1M
    parameters. The output conv starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, blocks: int = 2, kernel_size: int = 5,
                 activation: str = ACTIVATIONS[0]):
        """Build the layers; width and blocks set the capacity, kernel_size the receptive field."""
        super().__init__()
        nonlinearity = NONLINEARITIES[activation]

        def conv(c_in: int, c_out: int) -> nn.Conv2d:
            """A size-preserving square convolution."""
            return nn.Conv2d(c_in, c_out, kernel_size, padding="same")

        self.stem = conv(in_channels, width)
        self.blocks = nn.ModuleList(nn.Sequential(conv(width, width), nonlinearity(), conv(width, width))
                                    for _ in range(blocks))
        self.act = nonlinearity()
        self.head = conv(width, out_channels)
        nn.init.zeros_(self.head.weight)  # an untrained correction is zero: training starts from the plain solver
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply stem, residual blocks and output conv."""
        h = self.act(self.stem(x))
        for block in self.blocks:
            h = self.act(h + block(h))
        return self.head(h)
