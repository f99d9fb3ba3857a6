"""How training notices that it diverged (a loss that is not finite, or exploded) and stops with one line."""

import math

from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import FieldLoss
from fluidloss_cli.engine.training.run_files import RunFiles

EXPLOSION_FACTOR = 1e3
"""Training stops when a batch's loss exceeds this multiple of the run's first batch loss (or is NaN/inf)."""


def divergence(value: float, reference: float) -> str | None:
    """Why a batch loss means training has diverged, or None when it is fine."""
    if not math.isfinite(value):
        return f"the loss is {value}"
    if value > EXPLOSION_FACTOR * reference:
        return f"the loss exploded to {value:.4g}, over {EXPLOSION_FACTOR:g} x the first batch's {reference:.4g}"
    return None


def unchecked(loss: nn.Module) -> nn.Module:
    """Switch off the loss's own NaN/inf input check, so that a diverged network is reported by `divergence` with
    where training stopped and what was kept (and each call saves a device-to-host copy on CUDA)."""
    for module in loss.modules():
        if isinstance(module, FieldLoss):
            module.check_finite = False
    return loss


def stop_if_diverged(reason: str | None, where: str, files: RunFiles, done_epochs: int) -> None:
    """Stop the run with one line when `reason` says it diverged; the last checkpoint written stays as it is."""
    if reason:
        kept = f"the last good checkpoint {files.last} (epoch {done_epochs}) is kept" if done_epochs else \
            "no checkpoint was written"
        raise FluidlossError(f"training stopped at {where}: {reason}; {kept}. Lower --lr or check the data")
