"""The memory a training run will hold, estimated before anything is allocated: the network is built on torch's meta
device (shapes without storage) and run once on a meta batch, so `train sol --width 100000` or `train ae --latent
100000000` is refused with its figures, naming the options, instead of failing inside torch's allocator."""

from dataclasses import dataclass

import torch
from torch import nn

from fluidloss_cli.engine.capacity import available_memory, check_memory, gib
from fluidloss_cli.engine.models import build
from fluidloss_cli.engine.training.tasks.base import TaskSetup

WEIGHT_COPIES = 4
"""Copies of every weight a step holds: the weights, their gradients and Adam's two moments."""
ACTIVATION_COPIES = 2
"""Every layer output is kept for the backward pass, which makes a gradient of its size."""
NETWORK_SIZES = ("width", "blocks", "kernel_size", "latent")
"""The task options that set a network's size, as the estimate's line names them."""


@dataclass(frozen=True)
class Estimate:
    """What a training step holds: the weights (with gradients and Adam's moments) and the activations of a batch."""

    weights: int
    """Number of weights."""
    weight_bytes: int
    activation_bytes: int

    @property
    def total(self) -> int:
        return self.weight_bytes + self.activation_bytes


def layer_outputs(model: nn.Module, sample: torch.Tensor) -> int:
    """Elements of every layer's output when `model` runs on `sample` (both on the meta device: nothing computed)."""
    count = 0

    def add(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal count
        count += output.numel()

    hooks = [module.register_forward_hook(add) for module in model.modules() if not list(module.children())]
    try:
        model(sample)
    finally:
        for hook in hooks:
            hook.remove()
    return count


def estimate(setup: TaskSetup, batch_size: int) -> Estimate:
    """The memory of one training step of `setup`'s network on a batch of `batch_size` samples, float32, the
    activations of each of the sample's network passes (SOL: one per unrolled step) kept for the backward pass."""
    with torch.device("meta"):
        model = build(setup.model, setup.model_config)
        sample = torch.empty(batch_size, setup.model_config["in_channels"], *setup.input_grid)
        outputs = layer_outputs(model, sample)
    weights = sum(p.numel() for p in model.parameters())
    return Estimate(weights, 4 * WEIGHT_COPIES * weights, 4 * ACTIVATION_COPIES * outputs * setup.passes)


def free_memory(device: torch.device) -> tuple[int, str]:
    """Bytes free for the run on `device` and where, in words: the GPU's free memory, or what this process can take."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0], f"{device}"
    return available_memory(), "this machine"


def check_training_memory(setup: TaskSetup, batch_size: int, device: torch.device) -> None:
    """Refuse, before the network is built, a run whose estimated memory exceeds what `device` has free; the line
    names the options of the larger part: the network's size, or the batch."""
    found = estimate(setup, batch_size)
    sizes = " ".join(f"--{name.replace('_', '-')} {setup.options[name]}" for name in NETWORK_SIZES
                     if name in setup.options)
    batch = f"--batch-size {batch_size}" + (f" with --unroll {setup.passes}" if setup.passes > 1 else "")
    parts = (f"{gib(found.weight_bytes)} for its {found.weights:,} weights with their gradients and Adam's moments, "
             f"{gib(found.activation_bytes)} for the activations of a batch")
    subject = sizes if found.weight_bytes >= found.activation_bytes else batch
    available, where = free_memory(device)
    check_memory(f"{subject}: training the {setup.task} network", found.total, f" ({parts})", available, where)
