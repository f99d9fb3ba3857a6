"""Training: tasks (registry TASKS) supply model, data and batch loss; one loop trains, validates and checkpoints."""

from fluidloss_cli.engine.training.loop import Result, Step, Trainer, TrainConfig
from fluidloss_cli.engine.training.tasks import TASKS

__all__ = ["TASKS", "Result", "Step", "TrainConfig", "Trainer"]
