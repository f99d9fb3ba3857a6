"""The residual correction network of Um et al. 2020 (solver-in-the-loop), the model every loss is compared on."""

import math

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
    parameters. The output conv starts at zero. With `input_scale` and `output_scale` (one number per channel; `train
    sol --normalize`) it divides each input channel by its scale and multiplies each output channel by its scale."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, blocks: int = 2, kernel_size: int = 5,
                 activation: str = ACTIVATIONS[0], input_scale: list[float] | None = None,
                 output_scale: list[float] | None = None):
        """Build the layers; width and blocks set the capacity, kernel_size the receptive field. The scales are part
        of the configuration a checkpoint stores, not of its weights, so checkpoints without them load unchanged."""
        super().__init__()
        for name, scale, channels in (("input_scale", input_scale, in_channels),
                                      ("output_scale", output_scale, out_channels)):
            scale = [1.0] * channels if scale is None else scale
            if len(scale) != channels or not all(math.isfinite(v) and v > 0 for v in scale):
                raise ValueError(f"{name} needs {channels} positive numbers, got {scale}")
            values = torch.tensor(scale, dtype=torch.float32)  # checked as numbers: builds on the meta device too
            self.register_buffer(name, values.view(1, channels, 1, 1), persistent=False)
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
        """Scale the input, apply stem, residual blocks and output conv, scale the output."""
        h = self.act(self.stem(x / self.input_scale.to(x.dtype)))
        for block in self.blocks:
            h = self.act(h + block(h))
        out = self.head(h)
        return out * self.output_scale.to(out.dtype)
