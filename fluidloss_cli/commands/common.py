"""Options and helpers shared by every subcommand: `--config FILE`, `--device`, the console."""

import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from fluidloss_cli.engine.defaults import AMP_MODES, names
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.paths import check_input_file, read_text_file
from fluidloss_cli.engine.ranges import COUNT, INDEX, ODD, POSITIVE, SEED, SEED_LIMIT, Range, check_ranges  # noqa: F401
from fluidloss_cli.engine.scenes import SCENES
from fluidloss_cli.engine.solvers import SOLVERS

UNWRAPPED_WIDTH = 10_000
"""The width a console takes when it writes to a file or pipe: wide enough that no line or table is ever wrapped."""


class Unwrapped(Console):
    """A console that wraps at the terminal's width on a terminal, and never in a file or pipe (where a wrapped line
    is a broken line for whatever reads it)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if self.is_terminal else ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = Unwrapped(stderr=True)
"""Messages and progress, on stderr; results go to stdout (`Unwrapped()`)."""

START = 0
"""The default start frame of every command that starts from a dataset frame (`--start`): evaluate, benchmark and
simulate give the same verdicts on the same frames. Generated datasets begin after the scene's warm-up, so frame 0
is already developed flow."""

RENAMED: dict[tuple[str, ...], dict[str, str]] = {
    ("benchmark",): {"--frame": "--start", "--coarse-res": "--res"},
    ("simulate",): {"--frame": "--start"},
    ("evaluate", "pair"): {"--metric": "--metrics"},
    ("evaluate", "frames"): {"--first": "--start"},
}
"""Command path -> old flag -> its current name. The old spellings still work (scripts and configs written for them
run unchanged) but are not shown in the help: one name per concept across the commands."""


def command_path(args: list[str]) -> tuple[str, ...]:
    """The subcommand path that `args` (the words after `fluidloss`) start with, as far as RENAMED knows it."""
    for path in sorted(RENAMED, key=len, reverse=True):
        if tuple(args[: len(path)]) == path:
            return path
    return ()


def rename_old_flags(args: list[str]) -> list[str]:
    """`args` with each old flag of its command (RENAMED) written with its current name, `--flag=value` too."""
    renamed = RENAMED.get(command_path(args), {})
    out = []
    for token in args:
        flag, equals, value = token.partition("=")
        out.append(renamed[flag] + equals + value if flag in renamed else token)
    return out


def check_inputs(datasets: Iterable[Path | None] = (), checkpoints: Iterable[Path | None] = ()) -> None:
    """Refuse a missing, foreign or damaged dataset, or a missing checkpoint (a looping link or a folder too), before a
    command loads torch and PhiFlow (the engine checks them again when it reads them; this only makes the common
    mistakes answer at once)."""
    from fluidloss_cli.engine.data.schema import open_dataset  # h5py: only for commands that read data

    for path in datasets:
        if path is not None:
            open_dataset(path).close()
    for path in checkpoints:
        if path is not None:
            check_input_file(path, "checkpoint")


def _load_config(ctx: typer.Context, _param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Read a TOML file into the command's default map, so flags given on the command line win over it."""
    if value is None:
        return None
    try:
        data: dict[str, Any] = tomllib.loads(read_text_file(value, "config file"))
    except FluidlossError as exc:
        raise typer.BadParameter(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise typer.BadParameter(f"config file {value} is not valid TOML: {exc}") from None
    known = {p.name for p in ctx.command.params}
    old = RENAMED.get(tuple(ctx.command_path.split()[1:]), {})
    data = {old.get(f"--{key.replace('_', '-')}", f"--{key}").removeprefix("--").replace("-", "_"): val
            for key, val in data.items()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise typer.BadParameter(f"config file {value} has unknown keys: {', '.join(unknown)}")
    check_config_flags(value, data, ctx.command.params)
    ctx.default_map = {**(ctx.default_map or {}), **data}
    return value


def check_config_flags(path: Path, data: dict[str, Any], params: list) -> None:
    """Refuse a config value for an on/off option (`--normalize`) that is not a TOML boolean, and a boolean for any
    other option: click would read `normalize = "yes"` (or "no", "0") as a flag, and `width = true` as 1."""
    for param in params:
        if param.name not in data:
            continue
        flag, given = getattr(param, "is_bool_flag", False), data[param.name]
        if flag and not isinstance(given, bool):
            raise typer.BadParameter(f"config file {path}: {param.name} must be true or false (a TOML boolean), got "
                                     f"{given!r}")
        if not flag and isinstance(given, bool):
            raise typer.BadParameter(f"config file {path}: {param.name} = {str(given).lower()}: only on/off options "
                                     "take true or false")


ConfigOption = typer.Option(
    None,
    "--config",
    help="TOML file with option values (keys as the long flag names); flags on the command line override it.",
    callback=_load_config,
    is_eager=True,
    dir_okay=False,
)

def completer(names: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    """A shell completion of an option's values: the `names` (read when completing: registries may grow) that begin
    with what is typed; for a comma-separated list (`--metrics mse,ls`), of its last item."""
    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",")
        prefix = done + "," if done else ""
        return [prefix + name for name in names() if name.startswith(last)]
    return complete


def metric_names() -> list[str]:
    """Every metric name a `--metrics` list takes: the registry's losses, then the physical measures."""
    from fluidloss_cli.engine.loss_names import LOSS_CLASSES
    from fluidloss_cli.engine.metric_facts import MEASURES

    return [*LOSS_CLASSES, *MEASURES]


complete_metrics = completer(metric_names)
complete_scenes = completer(lambda: SCENES)
complete_solvers = completer(lambda: SOLVERS)


DeviceOption = typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")
NetworkAmpOption = typer.Option(AMP_MODES[0], "--amp", autocompletion=completer(lambda: AMP_MODES), help=f"Precision of the networks: {names(AMP_MODES)} (bf16: under bf16 autocast, on CUDA or CPUs with AVX512-BF16; the solver and the metrics stay float32).")


def check_amp(amp: str) -> None:
    """Refuse an unknown `--amp` before any work."""
    if amp not in AMP_MODES:
        raise FluidlossError(f"--amp {amp!r}: expected one of {names(AMP_MODES)}")
SolverOption = typer.Option(None, "--solver", autocompletion=complete_solvers, help="Coarse solver: native (plain torch) or phiflow. Default: the SOL "
                            "checkpoint's (another one is refused: the model learnt that solver's errors), else native.")

# Options that take several values after one flag, as in `--re 1e5 2e5`; Typer wants the flag repeated.
MULTI_VALUE_FLAGS = ("--re", "--seed")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def expand_multi_value_flags(args: list[str]) -> list[str]:
    """Rewrite `--re 1e5 2e5` as `--re 1e5 --re 2e5` so Typer's repeated options read it."""
    expanded: list[str] = []
    flag = None
    for token in args:
        if flag and _is_number(token) and not token.startswith("--"):
            expanded += [flag, token]
            continue
        flag = None
        if token in MULTI_VALUE_FLAGS:
            flag = token
            continue
        expanded.append(token)
    return expanded


def silence_closed_pipe() -> None:
    """The reader of our output went away (`fluidloss weights list | head -1`): send whatever is still to be written,
    the exit-time flush included, to the null device, so the command stops quietly like `cat` does."""
    import os
    import sys

    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(null, stream.fileno())
        except (OSError, ValueError):  # a stream without a file descriptor (a test's capture)
            pass
    os.close(null)


def progress_bar(rate: bool = True) -> Progress:
    """A rich progress display with counts, rate (unless `rate` is False: a command that prints its own) and ETA,
    on stderr; in a file or pipe, plain progress lines every so often instead (see `progress.LoggedProgress`)."""
    from fluidloss_cli.commands.progress import LoggedProgress

    return LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *([RateColumn()] if rate else []),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class RateColumn(ProgressColumn):
    """Items per second of a task, e.g. `41.3 frames/s`."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {task.fields['unit']}/s", style="progress.data.speed")
