"""What a training task hands the loop: which model to build, the data, the loss of a batch, and what to record."""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import Dataset

BatchLoss = Callable[[nn.Module, nn.Module, dict], torch.Tensor]
"""(model, loss, batch on the device) -> scalar training loss."""


@dataclass
class TaskSetup:
    """A task ready to train: `models.build(model, model_config)` learns to minimise `batch_loss` on `train`."""

    task: str
    model: str
    model_config: dict
    train: Dataset
    val: Dataset
    batch_loss: BatchLoss
    options: dict
    """The task's own options; a run resumes only with the same ones."""
    datasets: dict[str, dict]
    """Role (coarse, fine, data, val...) -> dataset identity."""
    summary: str
    """One line for the console: what is learnt from what."""
    input_grid: tuple[int, int]
    """Rows and columns of the network's input, the face grid (H+1, W+1) of the frames it reads: what the memory
    estimate of a run (`training/memory.py`) runs the network on."""
    passes: int = 1
    """Network passes of one sample whose activations its backward pass keeps (SOL: one per unrolled step)."""
    info: dict = field(default_factory=dict)
    """Task facts stored in checkpoints, e.g. the compression ratio."""
    export: Callable[[nn.Module], dict] = lambda model: {}
    """Extra checkpoint entries made from the trained model, e.g. encoder and decoder on their own."""
    baseline: str | None = None
    """What the untrained model computes, its output layer starting at zero (SOL: the uncorrected solver; SR: bicubic
    upsampling), whose validation loss the trained one must beat; None where it means nothing (AE)."""
