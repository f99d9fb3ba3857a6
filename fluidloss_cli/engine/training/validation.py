"""The validation pass of the training loop: the mean batch loss over the validation set, shared out over the
processes of a data-parallel run."""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from fluidloss_cli.engine.device import to_device
from fluidloss_cli.engine.training.distributed import World, reduce_sum
from fluidloss_cli.engine.training.tasks.base import TaskSetup


def batch_length(batch: Any) -> int:
    """The number of samples in a (nested dict) batch: the length of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    return batch_length(next(value for value in batch.values() if isinstance(value, torch.Tensor | dict)))


@torch.no_grad()
def validate(model: nn.Module, loss: nn.Module, setup: TaskSetup, batch_size: int, device: torch.device,
             autocast: Callable[[], Any], world: World) -> float:
    """Mean loss over the validation set (weighted by batch size); each process evaluates every world-size-th frame."""
    model.eval()
    total = 0.0
    for batch in DataLoader(Subset(setup.val, range(world.rank, len(setup.val), world.size)), batch_size=batch_size):
        with autocast():
            value = setup.batch_loss(model, loss, to_device(batch, device))
        total += value.item() * batch_length(batch)
    return reduce_sum(total, world, device) / len(setup.val)
