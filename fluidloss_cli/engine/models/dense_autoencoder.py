"""An autoencoder whose latent is one short vector per frame, in the style of Deep Fluids (Kim et al., Eurographics
2019): convolutions down to a coarse grid, one dense layer to `latent` values, and back. The convolutional
`Autoencoder` keeps a latent grid (a few times smaller than the frame, so nothing forces it to lose information);
this one compresses a 128x64 velocity (16,512 values) a few hundred times at a latent of 32 to 64."""

from torch import nn

from fluidloss_cli.engine.models.autoencoder import PaddedAutoencoder


class DenseAutoencoder(PaddedAutoencoder):
    """[B, C_in, H, W] -> latent [B, latent] -> [B, C_out, H, W] for frames of one `grid` (height, width).

    Encoder: a 3x3 conv to `width` channels and `depth` stride-2 3x3 convs that double them, flattened into a dense
    layer to `latent` values; the decoder mirrors it (a dense layer back to the coarse grid, 4x4 transposed
    convolutions). Inputs are zero-padded to a multiple of 2^depth and the output is cropped back."""

    def __init__(self, in_channels: int, out_channels: int, grid: tuple[int, int], latent: int = 32, width: int = 16,
                 depth: int = 2):
        """Build encoder and decoder for frames of `grid` (height, width); `latent` values set the compression."""
        super().__init__()
        self.reduction, self.latent = 2**depth, latent
        rows, columns = (-(-size // self.reduction) for size in grid)
        widths = [width * 2**i for i in range(depth + 1)]
        coarse = (widths[-1], rows, columns)
        down = [layer for w_in, w_out in zip(widths, widths[1:])
                for layer in (nn.Conv2d(w_in, w_out, 3, stride=2, padding=1), nn.ReLU())]
        up = [layer for w_in, w_out in zip(widths[:0:-1], widths[-2::-1])
              for layer in (nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1), nn.ReLU())]
        self.encoder = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), *down,
                                     nn.Flatten(), nn.Linear(widths[-1] * rows * columns, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, widths[-1] * rows * columns), nn.Unflatten(1, coarse),
                                     nn.ReLU(), *up, nn.Conv2d(width, out_channels, 3, padding=1))

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """The latent's [values, 1, 1], whatever the frame's size (it is fixed by `grid`)."""
        return self.latent, 1, 1
