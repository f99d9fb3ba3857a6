"""Mean squared error, per field: the baseline every perceptual loss is compared with."""

import torch

from fluidloss_cli.engine.losses.base import FieldLoss


class MSELoss(FieldLoss):
    """Mean over the grid of the squared difference, summed over channels, averaged over the batch."""

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-field mean squared difference [N]."""
        return (pred - ref).square().mean(dim=(1, 2, 3))
