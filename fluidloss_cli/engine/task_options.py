"""Every option of `fluidloss train TASK`, declared once: its name (the Python name, the study key and the checkpoint
key; the flag is the name with dashes), type, default, help text and allowed values.

What reads these declarations: the command line (`commands/train.py` builds each task's options from them), the
study (its task keys, their checks at plan time and the training command lines of its cells), the task setup (the
values it records in the checkpoint) and resume (which values must match). A new training option is one
`TaskOption` in its task's tuple below, plus its use in the task's `setup`; a package or a test that extends a task
calls `register_option`. Torch-free, so that checks and `--help` stay fast.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.defaults import ACTIVATIONS, AMP_MODES, LR_SCHEDULES, VAL_SPLIT
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.loss_names import LOSS_CLASSES
from fluidloss_cli.engine.model_names import MODEL_CLASSES, check_model, models_of
from fluidloss_cli.engine.ranges import COUNT, INDEX, ODD, POSITIVE, SEED, Range
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER, SOLVERS

REQUIRED = ...
"""The default of an option that must be given (a training file)."""


@dataclass(frozen=True)
class TaskOption:
    """One option of `fluidloss train TASK`."""

    name: str
    default: Any
    help: str
    kind: type | None = None
    """The value's type; by default the default's."""
    allowed: Range | tuple[Any, ...] | None = None
    """A range of numbers, or the values a choice takes."""
    check: Callable[[Any], None] | None = None
    """A check of its own, raising FluidlossError (a loss's name: the registry's)."""
    study: bool = True
    """Whether a study config's task table may set it."""
    added: bool = False
    """Added after checkpoints were first written: a checkpoint without it was trained with its default."""
    names: Callable[[], Iterable[str]] | None = None
    """The values a shell completes where they are not a tuple of choices (`allowed`): a registry's names."""

    def completions(self) -> list[str]:
        """The values a shell may complete: the choices, or the registry's names; none for free values."""
        if isinstance(self.allowed, tuple):
            return [str(value) for value in self.allowed]
        return [str(name) for name in self.names()] if self.names else []

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def type(self) -> type:
        return self.kind or type(self.default)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def validate(self, value: Any, where: str | None = None) -> None:
        """Refuse a value the option cannot take, in one line that names it (`where`: e.g. the study key's place;
        default the flag). None (an optional file left out) passes."""
        if value is None:
            return
        name = where or self.flag
        if isinstance(self.allowed, Range) and not self.allowed.test(value):
            raise FluidlossError(f"{name} must be {self.allowed.wanted}, got {value}")
        if isinstance(self.allowed, tuple) and value not in self.allowed:
            raise FluidlossError(f"{name} {value!r}: expected one of {', '.join(map(str, self.allowed))}")
        if self.check is not None:
            self.check(value)


def _loss_name(spec: str) -> None:
    from fluidloss_cli.engine.loss_names import parse_spec

    parse_spec(spec)


def _model(task: str) -> TaskOption:
    """`--model`: the network, a name of the model registry that fits `task` (its own model by default)."""
    return TaskOption("model", task, f"Network: a model of the registry that fits {task} (default {task}, the task's "
                      "own; others are registered, see docs/architecture.md).", check=partial(check_model, task),
                      added=True, names=partial(models_of, task))


def _file(name: str, help: str, required: bool = False) -> TaskOption:
    """A dataset option (`--data`, `--val`...): never a study key (the study names its own data cells)."""
    return TaskOption(name, REQUIRED if required else None, help, kind=Path, study=False)


WIDTH = TaskOption("width", 32, "Channels of the network's hidden layers.", allowed=COUNT)
VAL_SPLIT_OPTION = TaskOption("val_split", VAL_SPLIT, "Fraction of the frames held out for validation (without a "
                              "separate validation file).", allowed=Range(lambda v: 0 < v < 1, "between 0 and 1"),
                              study=False)

TRAINING: tuple[TaskOption, ...] = (
    TaskOption("loss", "mse", 'Loss name or weighted sum from the registry, e.g. "mse+0.1*lsim".', check=_loss_name,
               study=False, names=lambda: LOSS_CLASSES),
    TaskOption("epochs", 10, "Epochs to train (the learning rate anneals over them).", allowed=COUNT),
    TaskOption("batch_size", 16, "Frames per mini-batch (over all --nproc processes together).", allowed=COUNT),
    TaskOption("lr", 1e-3, "Adam learning rate (cosine-annealed to 0 over the epochs; see --lr-schedule).",
               allowed=POSITIVE),
    TaskOption("seed", 0, "Seed of the weights, the shuffling and the validation split.", allowed=SEED, study=False),
    TaskOption("amp", AMP_MODES[0], "Mixed precision: off or bf16 (the network in bf16 autocast, on CUDA or the CPU; "
               "fast on CPUs with AVX512-BF16).", allowed=AMP_MODES),
    TaskOption("compile", False, "torch.compile the model (CUDA only).", study=False),
    TaskOption("lr_schedule", LR_SCHEDULES[0], "Learning rate over the epochs: cosine (annealed to 0) or constant (as "
               "Um et al.).", allowed=LR_SCHEDULES, added=True),
    TaskOption("patience", 0, "Stop once the validation loss has not improved for this many epochs (0: train every "
               "epoch); best.pt is the best epoch either way.", allowed=INDEX, added=True),
)
"""The options of every task's training loop (`TrainConfig`), recorded in a checkpoint's `training`."""

UNROLLS = (1, 2, 4, 8, 16)
"""The unroll lengths SOL trains with."""

TASK_OPTIONS: dict[str, list[TaskOption]] = {
    "sol": [
        _file("data", "Coarse reference: a fine dataset made coarse by `fluidloss downsample`.", required=True),
        _file("val", "Coarse validation reference (instead of --val-split)."),
        VAL_SPLIT_OPTION,
        _model("sol"),
        TaskOption("unroll", 4, "Solver steps per sample, the loss summed over them: 1, 2, 4, 8 or 16.",
                   allowed=UNROLLS),
        TaskOption("blocks", 2, "Residual blocks of the correction network.", allowed=COUNT),
        TaskOption("kernel_size", 5, "Square convolution size of the correction network.", allowed=ODD),
        WIDTH,
        TaskOption("solver", DEFAULT_SOLVER, "Coarse solver trained through: native (plain torch, faster) or phiflow; "
                   "recorded in the checkpoint, whose rollouts then use it.", allowed=SOLVERS, study=False),
        TaskOption("activation", ACTIVATIONS[0], "Nonlinearity of the correction network: relu, leaky_relu (the PBDL "
                   "book's).", allowed=ACTIVATIONS, added=True),
        TaskOption("normalize", False, "Scale the network's inputs and output, and the fields the loss compares, by "
                   "the spread (standard deviation) of the training data's fields and Reynolds numbers, as the PBDL "
                   "book's code does; recorded in the checkpoint. Validation losses are then in those units.",
                   added=True),
    ],
    "sr": [
        _file("coarse", "Coarse dataset (the network's input).", required=True),
        _file("fine", "Fine dataset of the same simulations, 2x or 4x finer (the target).", required=True),
        _file("val_coarse", "Coarse validation dataset (with --val-fine)."),
        _file("val_fine", "Fine validation dataset (with --val-coarse)."),
        VAL_SPLIT_OPTION,
        _model("sr"),
        TaskOption("blocks", 4, "Residual blocks.", allowed=COUNT),
        WIDTH,
    ],
    "ae": [
        _file("data", "Dataset of frames to compress.", required=True),
        _file("val", "Validation dataset (instead of --val-split)."),
        VAL_SPLIT_OPTION,
        _model("ae"),
        TaskOption("latent", 8, "Latent channels (at 1/2^depth of the resolution per axis): set the compression.",
                   allowed=COUNT),
        WIDTH,
        TaskOption("depth", 2, "Stride-2 convolutions from frame to latent grid, each halving it per axis.",
                   allowed=COUNT),
    ],
}
"""Task -> the options of its `setup` (datasets, network, task settings), recorded in a checkpoint's `task_options`
(datasets by their identity instead)."""

TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    "sol": {"lr": (1e-4, "Adam learning rate (cosine-annealed to 0; see --lr-schedule); corrections are small, so lower "
                         "than for sr/ae.")},
}
"""Task -> training options whose default (and help) differ from `TRAINING`'s, as (default, help)."""


def training_default(name: str) -> Any:
    """The default of training option `name` (before a task's own)."""
    return next(option.default for option in TRAINING if option.name == name)


def training_options(task: str) -> tuple[TaskOption, ...]:
    """The training options of `task`, its own defaults applied."""
    own = TRAINING_DEFAULTS.get(task, {})
    return tuple(replace(option, default=own[option.name][0], help=own[option.name][1]) if option.name in own
                 else option for option in TRAINING)


def task_options(task: str) -> tuple[TaskOption, ...]:
    """The options of `task`'s setup; an unknown task is a one-line error naming the known ones."""
    if task not in TASK_OPTIONS:
        raise FluidlossError(f"unknown task {task!r}; known: {', '.join(TASK_OPTIONS)}")
    return tuple(TASK_OPTIONS[task])


def all_options(task: str) -> tuple[TaskOption, ...]:
    """Every option of `fluidloss train TASK`: the task's, then the training loop's."""
    return task_options(task) + training_options(task)


def register_option(task: str, option: TaskOption) -> None:
    """Add an option to `task` (from outside the package): it reaches the command line built after this call, the
    study and the checkpoint; the task's setup receives it among its options."""
    if any(o.name == option.name for o in all_options(task)):
        raise FluidlossError(f"train {task} already has an option {option.name!r}")
    TASK_OPTIONS[task].append(option)


def unregister_option(task: str, name: str) -> None:
    """Remove an option `register_option` added (tests restore the declarations so)."""
    TASK_OPTIONS[task][:] = [o for o in TASK_OPTIONS[task] if o.name != name]


def with_defaults(task: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` of `task`'s setup options completed by the declared defaults, in declared order; an unknown or a
    missing required one is refused, every value checked."""
    options = {o.name: o for o in task_options(task)}
    unknown = sorted(set(values) - set(options))
    if unknown:
        raise FluidlossError(f"train {task} has no option {', '.join(unknown)}; known: {', '.join(options)}")
    missing = [o.flag for o in options.values() if o.required and values.get(o.name) is None]
    if missing:
        raise FluidlossError(f"train {task} needs {', '.join(missing)}")
    complete = {name: values.get(name, o.default) for name, o in options.items()}
    for name, value in complete.items():
        options[name].validate(value)
    return complete


def study_keys(task: str) -> dict[str, type]:
    """The keys a study's `[tasks.NAME]` table may set for `task`'s training, with their types."""
    return {o.name: o.type for o in all_options(task) if o.study}


def added_defaults(task: str) -> dict[str, Any]:
    """Option name -> default of each option of `task` added after checkpoints were first written (`added`)."""
    return {o.name: o.default for o in all_options(task) if o.added}


def model_arguments(task: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model `options` choose for `task` and the task options its constructor takes, by name."""
    name = options["model"]
    return name, {key: options[key] for key in MODEL_CLASSES[name].options}


VALIDATION_FILES = {"data": "val", "coarse": "val_coarse", "fine": "val_fine"}
"""Training file option -> the validation file option of the same role (which replaces `val_split`)."""


def recorded(task: str, values: dict[str, Any]) -> dict[str, Any]:
    """The option values a checkpoint records and resume compares: all but the datasets (recorded by their identity
    instead), `val_split` as None where validation files replace it."""
    validated = any(values.get(name) is not None for name in VALIDATION_FILES.values())
    return {o.name: None if o.name == "val_split" and validated else values[o.name]
            for o in task_options(task) if o.type is not Path}
