"""The task registry: `fluidloss train NAME` -> the setup function of that task (one module per task)."""

from collections.abc import Callable

from fluidloss_cli.engine.training.tasks import ae, sol, sr
from fluidloss_cli.engine.training.tasks.base import TaskSetup

TASKS: dict[str, Callable[..., TaskSetup]] = {"sol": sol.setup, "sr": sr.setup, "ae": ae.setup}
