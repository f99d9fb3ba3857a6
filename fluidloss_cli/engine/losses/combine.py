"""Weighted sums of losses: the module that evaluates a `--loss "mse+0.1*lsim"` spec (its syntax: `loss_names`)."""

import torch
from torch import nn

from fluidloss_cli.engine.losses.base import FieldLoss

class CombinedLoss(FieldLoss):
    """A weighted sum of losses; inputs are checked once, then every term adds its weighted per-field distances."""

    def __init__(self, terms: list[tuple[float, FieldLoss]]) -> None:
        """Sum `weight * loss` over the (weight, loss) terms."""
        super().__init__()
        self.weights = [w for w, _ in terms]
        self.terms = nn.ModuleList(loss for _, loss in terms)

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the terms' per-field distances [N]."""
        return sum(w * loss.distances(pred, ref) for w, loss in zip(self.weights, self.terms))
