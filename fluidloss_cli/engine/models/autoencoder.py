"""The bottleneck convolutional autoencoder: an encoder and a decoder that can be used on their own."""

import torch
import torch.nn.functional as F
from torch import nn


class PaddedAutoencoder(nn.Module):
    """What the autoencoders share: an `encoder` and a `decoder` (set by the subclass) for inputs zero-padded to a
    multiple of `reduction` per axis, and the output cropped back."""

    encoder: nn.Module
    decoder: nn.Module
    reduction: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pad to a multiple of `reduction` and encode."""
        return self.encoder(F.pad(x, (0, -x.shape[-1] % self.reduction, 0, -x.shape[-2] % self.reduction)))

    def decode(self, z: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Decode and crop to height x width."""
        return self.decoder(z)[..., :height, :width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode and decode back to the input's size."""
        return self.decode(self.encode(x), *x.shape[-2:])


class Autoencoder(PaddedAutoencoder):
    """[B, C_in, H, W] -> latent [B, latent, ceil(H/2^depth), ceil(W/2^depth)] -> [B, C_out, H, W].

    The encoder is a 3x3 conv to `width` channels and `depth` stride-2 3x3 convs that double the channels, then a 1x1
    conv to `latent` channels; the decoder mirrors it with 4x4 transposed convolutions. Inputs are zero-padded to a
    multiple of 2^depth and the output is cropped back."""

    def __init__(self, in_channels: int, out_channels: int, latent: int = 8, width: int = 16, depth: int = 2):
        """Build encoder and decoder; `latent` channels and `depth` halvings set the compression."""
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        down = [layer for w_in, w_out in zip(widths, widths[1:])
                for layer in (nn.Conv2d(w_in, w_out, 3, stride=2, padding=1), nn.ReLU())]
        up = [layer for w_in, w_out in zip(widths[:0:-1], widths[-2::-1])
              for layer in (nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1), nn.ReLU())]
        self.encoder = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), *down,
                                     nn.Conv2d(widths[-1], latent, 1))
        self.decoder = nn.Sequential(nn.Conv2d(latent, widths[-1], 3, padding=1), nn.ReLU(), *up,
                                     nn.Conv2d(width, out_channels, 3, padding=1))
        self.reduction = 2**depth
        self.latent = latent

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """The latent's [channels, rows, columns] for an input of height x width."""
        return self.latent, -(-height // self.reduction), -(-width // self.reduction)
