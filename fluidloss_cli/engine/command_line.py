"""The `fluidloss` command lines the study runs, built from one table of those commands' arguments and options.

The engine never imports the commands (nor typer), so the table repeats their names; tests/test_study.py reads
every entry against the app, so a renamed option fails a test instead of a study at run time. A new option the study
passes is one line in its command's table; `train`'s options come from their declarations (engine/task_options.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.task_options import TASK_OPTIONS, all_options


def reynolds(value: float) -> str:
    """A Reynolds number as study plans have always written it, in six significant digits: 1e5 -> `100000`."""
    return f"{value:g}"


@dataclass(frozen=True)
class Option:
    """One option of a command: its flag, whether it may repeat (`--seed 0 --seed 1`) and how a value is written; a
    switch (`--resume`) is its flag alone, given for True."""

    flag: str
    repeats: bool = False
    text: Callable[[Any], str] = str
    switch: bool = False


@dataclass(frozen=True)
class Command:
    """One `fluidloss` command: its positional arguments, in order, and its options, by Python name."""

    arguments: tuple[str, ...] = ()
    options: dict[str, Option] = field(default_factory=dict)


DEVICE = Option("--device")
"""Where a command that runs a network runs (the runner adds it to every such cell)."""


def train_command(task: str) -> Command:
    """`fluidloss train TASK`: every option task_options declares for it (registered ones included), and the run's."""
    declared = {o.name: Option(o.flag, switch=o.type is bool) for o in all_options(task)}
    return Command(options={**declared, "device": DEVICE, "resume": Option("--resume", switch=True),
                            "out": Option("--out")})


EVALUATION = {"device": DEVICE, "data": Option("--data"), "metrics": Option("--metrics"), "out": Option("--out")}
"""The options both `fluidloss evaluate rollout` and `evaluate frames` share."""

COMMANDS = {
    "generate": Command(("scene",), {"res": Option("--res"), "frames": Option("--frames"), "out": Option("--out"),
                                     "re": Option("--re", repeats=True, text=reynolds),
                                     "seed": Option("--seed", repeats=True), "warmup": Option("--warmup")}),
    "downsample": Command(("source",), {"res": Option("--res"), "out": Option("--out")}),
    **{f"train {task}": train_command(task) for task in TASK_OPTIONS},
    "evaluate rollout": Command(options={**EVALUATION, "sol": Option("--sol", repeats=True),
                                         "fine": Option("--fine"), "sr": Option("--sr", repeats=True),
                                         "start": Option("--start", repeats=True), "steps": Option("--steps")}),
    "evaluate frames": Command(options={**EVALUATION, "fine": Option("--fine"), "sr": Option("--sr", repeats=True),
                                        "ae": Option("--ae", repeats=True), "start": Option("--start"),
                                        "stride": Option("--stride")}),
    "simulate": Command(("scene",), {"source": Option("--from"), "start": Option("--start"), "steps": Option("--steps"),
                                     "sol": Option("--sol"), "quantity": Option("--quantity"), "out": Option("--out"),
                                     "render": Option("--render"), "device": DEVICE}),
}
"""Command (its words after `fluidloss`) -> the arguments and options the study gives it."""


def option_args(name: str, option: Option, value: Any) -> list[str]:
    """One option's flag and value, the flag repeated for each item of a list or tuple (only where the option repeats;
    a named tuple, such as a Resolution, is one value)."""
    if option.switch:
        return [option.flag] if value else []
    items = list(value) if type(value) in (list, tuple) else [value]
    if len(items) != 1 and not option.repeats:
        raise FluidlossError(f"`fluidloss {name}` takes one {option.flag}, got {value!r}")
    return [arg for item in items for arg in (option.flag, option.text(item))]


def command_of(args: list[str] | tuple[str, ...]) -> str:
    """The command (its words) a command line of the table runs: `["train", "sol", ...]` -> "train sol"."""
    return next(name for name in sorted(COMMANDS, key=len, reverse=True) if list(args[:len(name.split())]) == name.split())


def argv(name: str, **values: Any) -> list[str]:
    """The `fluidloss` arguments running command `name` (e.g. "train sol") with `values` by Python name: the words
    and positional arguments first, then the options in the order given; a value of None is left out."""
    spec = command(name)
    missing = [key for key in spec.arguments if values.get(key) is None]
    if missing:
        raise FluidlossError(f"`fluidloss {name}` needs its argument(s) {', '.join(missing)}")
    given = {key: value for key, value in values.items() if key not in spec.arguments}
    return [*name.split(), *(str(values[key]) for key in spec.arguments), *options(name, **given)]


def command(name: str) -> Command:
    """The table's entry of command `name`; an unknown one is an error naming the known ones. A `train` command's
    entry is built anew, so that options registered since the table was made are in it."""
    if name.split()[0] == "train" and name.split()[-1] in TASK_OPTIONS:
        return train_command(name.split()[-1])
    if name not in COMMANDS:
        raise FluidlossError(f"no command line for `fluidloss {name}`; known: {', '.join(COMMANDS)}")
    return COMMANDS[name]


def options(name: str, **values: Any) -> list[str]:
    """The option arguments of command `name` for `values` by Python name, in the order given; None is left out."""
    spec = command(name)
    unknown = [key for key in values if key not in spec.options]
    if unknown:
        raise FluidlossError(f"`fluidloss {name}` has no option {', '.join(unknown)} in the study's table; known: "
                             f"{', '.join(spec.options)}")
    return [arg for key, value in values.items() if value is not None
            for arg in option_args(name, spec.options[key], value)]
