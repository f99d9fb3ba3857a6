"""The task-independent options of a training run, as `task_options.TRAINING` declares them."""

from dataclasses import dataclass

import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.task_options import TRAINING, training_default


@dataclass(frozen=True)
class TrainConfig:
    """The task-independent options of a run (task_options.TRAINING, whose defaults these are); stored in every
    checkpoint, and a run resumes only with the same."""

    loss: str = training_default("loss")
    epochs: int = training_default("epochs")
    batch_size: int = training_default("batch_size")
    lr: float = training_default("lr")
    seed: int = training_default("seed")
    amp: str = training_default("amp")
    compile: bool = training_default("compile")
    lr_schedule: str = training_default("lr_schedule")
    patience: int = training_default("patience")

    def check(self, device: torch.device) -> None:
        """Raise a one-line error for values that cannot train: each option's declared check, and --compile off
        CUDA."""
        for option in TRAINING:
            option.validate(getattr(self, option.name))
        if self.compile and device.type != "cuda":
            raise FluidlossError(f"--compile is CUDA-only; the run is on {device} (drop the flag or use --device cuda)")
