"""The model registry's names, torch-free: model name -> its class (a "module:Class" string within `engine/models`,
imported on first use, or a class registered from outside the package), the task whose data it fits, and the task
options its constructor takes. Commands check `--model` against it before loading torch; a checkpoint records the
name and its constructor's arguments, and is rebuilt from them (as pdearena's class path and init args).

A model of task `sol` is built as `cls(in_channels, out_channels, **options)` and maps the coarse state's channels
to a correction of the same grid; `sr`: `cls(in_channels, out_channels, factor, **options)`, [B, C, h, w] ->
[B, C, factor*h, factor*w], a residual on bicubic upsampling (its output should start at zero); `ae`:
`cls(in_channels, out_channels, **options)` with `encoder`, `decoder` and `latent_shape(height, width)` (plus
`grid` where the entry's `data` names it).
"""

import re
from dataclasses import dataclass

from fluidloss_cli.engine.errors import FluidlossError


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its class, the task it fits, the task options its constructor takes."""

    cls: object
    """A "module:Class" string within `engine/models`, or an `nn.Module` subclass."""
    task: str
    options: tuple[str, ...]
    data: tuple[str, ...] = ()
    """Constructor arguments its task derives from the data besides the channels: `grid` (ae: the frame's padded
    (height, width), for a model whose layers depend on it)."""


MODEL_CLASSES: dict[str, ModelEntry] = {
    "sol": ModelEntry("sol_net:SolNet", "sol", ("width", "blocks", "kernel_size", "activation")),
    "sr": ModelEntry("sr_net:SRNet", "sr", ("width", "blocks")),
    "ae": ModelEntry("autoencoder:Autoencoder", "ae", ("latent", "width", "depth")),
    "ae-dense": ModelEntry("dense_autoencoder:DenseAutoencoder", "ae", ("latent", "width", "depth"), data=("grid",)),
}
"""Model name -> entry; each task's own model has the task's name."""


def models_of(task: str) -> list[str]:
    """The names of the models that fit `task`."""
    return [name for name, entry in MODEL_CLASSES.items() if entry.task == task]


def check_model(task: str, name: str) -> None:
    """Refuse a model name that is unknown or fits another task, naming those that fit."""
    if MODEL_CLASSES.get(name, ModelEntry("", "", ())).task != task:
        raise FluidlossError(f"--model {name!r}: not a model of task {task}; known: {', '.join(models_of(task))}")


def register_model(name: str, cls: object, task: str, options: tuple[str, ...] = (),
                   data: tuple[str, ...] = ()) -> None:
    """Make a model known by `name` to `train TASK --model`, the study and checkpoints: an `nn.Module` subclass (or a
    "module:Class" string within `engine/models`) built from the task's data-derived arguments (the channels, and
    `data`: see `ModelEntry.data`) and `options`, the task options its constructor takes. Registered once."""
    if name in MODEL_CLASSES or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise FluidlossError(f"model {name!r} is already registered, or not a lower-case name")
    MODEL_CLASSES[name] = ModelEntry(cls, task, tuple(options), tuple(data))


def unregister_model(name: str) -> None:
    """Forget a model registered with `register_model` (tests that define one)."""
    MODEL_CLASSES.pop(name, None)
