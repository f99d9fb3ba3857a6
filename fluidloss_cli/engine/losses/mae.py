"""Mean absolute error, per field: the L1 baseline."""

import torch

from fluidloss_cli.engine.losses.base import FieldLoss


class MAELoss(FieldLoss):
    """Mean over the grid of the absolute difference, summed over channels, averaged over the batch."""

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-field mean absolute difference [N]."""
        return (pred - ref).abs().mean(dim=(1, 2, 3))
