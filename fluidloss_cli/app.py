"""The `fluidloss` command: one Typer app, one subcommand module per job.

Importing the app loads no torch and no PhiFlow: each command imports the engine when it runs, after checking its
options, so `--help`, `--version` and input errors answer at once.
"""

from importlib.metadata import PackageNotFoundError, version

import typer
from typer.core import TyperGroup

from fluidloss_cli.commands.command_list import WORKFLOW, WorkflowGroup
from fluidloss_cli.commands.common import console, expand_multi_value_flags, rename_old_flags, silence_closed_pipe
from fluidloss_cli.commands.examples import examples
from fluidloss_cli.engine import interrupt
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.provenance import record_command_line


UsageError = typer.BadParameter.__mro__[1]
"""click's UsageError (bad or missing options), which Typer vendors from 0.29 on and exports only through this subclass."""


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _usage_line(exc: Exception) -> str:
    """A usage error on one line, with where to read the usage."""
    context = getattr(exc, "ctx", None)
    where = f" (see: {context.command_path} --help)" if context is not None else ""
    return " ".join(exc.format_message().split()) + where


RERUN_ADVICE = {
    "study run": "finished cells were kept; rerun the same command to run the rest",
    "study plan": "nothing was kept; rerun the command",
    "downsample": "nothing was written (the output appears only when complete); rerun the command",
    "export": "nothing was written (the output appears only when complete); rerun the command",
    "evaluate rollout": "the evaluation was not finished (evaluation.json is written last); rerun the command",
    "evaluate frames": "the evaluation was not finished (frames.json is written last); rerun the command",
}
"""What to do after an interrupt, for commands that continue by other means than --resume. A command that knows
better at the time of the interrupt sets the interrupt's `advice` attribute (train, before its first checkpoint)."""


def _leaf(group: TyperGroup, ctx: typer.Context, args: list[str]) -> tuple[str, object | None]:
    """The path (e.g. `train sol`) and command object that `args` run, or (path so far, None)."""
    command, path = group, []
    words = [a for a in args if not a.startswith("-")]
    while hasattr(command, "get_command") and words:
        path.append(words.pop(0))
        command = command.get_command(ctx, path[-1])
        if command is None:
            return " ".join(path), None
    return " ".join(path), command


def interrupt_advice(path: str, command: object | None) -> str:
    """What an interrupted run of `command` kept and how to continue it, naming only options the command has."""
    if path in RERUN_ADVICE:
        return RERUN_ADVICE[path]
    options = {param.name for param in getattr(command, "params", [])}
    if "resume" in options:
        return "finished work was kept; rerun with --resume to complete it"
    if "overwrite" in options:
        return "no unfinished file was kept; rerun the command (with --overwrite where it had finished an output)"
    return "no unfinished file was kept; rerun the command"


def _help(exc: Exception) -> typer.Exit:
    """`fluidloss` or a group (`fluidloss train`) without a command: its help, as `--help` prints it, and success."""
    typer.echo(exc.ctx.get_help())  # type: ignore[attr-defined]
    return typer.Exit(code=0)


def _wants_help(exc: Exception) -> bool:
    """Whether a usage error is click's "no arguments: show the help" (not exported by Typer, hence by name)."""
    return type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None


class _FriendlyErrors(WorkflowGroup):
    """Turns engine errors, usage errors and Ctrl-C into a one-line message and a non-zero exit, never a traceback;
    a command group called without a command prints its help; output into a closed pipe ends quietly with 0. Its
    help lists the commands in workflow order."""

    order = WORKFLOW

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        record_command_line(args)
        ctx.meta["interrupt_advice"] = interrupt_advice(*_leaf(self, ctx, args))
        try:
            return super().parse_args(ctx, expand_multi_value_flags(rename_old_flags(args)))
        except BrokenPipeError:  # --help into a closed pipe
            silence_closed_pipe()
            raise typer.Exit(code=0) from None
        except UsageError as exc:
            raise (_help(exc) if _wants_help(exc) else _fail(_usage_line(exc))) from None

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        interrupt.install()
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # the reader left (`| head`): done, quietly, as `cat` would be
            silence_closed_pipe()
            raise typer.Exit(code=0) from None
        except FluidlossError as exc:
            raise _fail(str(exc)) from None
        except UsageError as exc:
            raise (_help(exc) if _wants_help(exc) else _fail(_usage_line(exc))) from None
        except KeyboardInterrupt as exc:
            raise _interrupted(exc, ctx) from None
        except Exception as exc:  # an interrupt that landed in a C extension's callback, wrapped in its error
            if (received := interrupt.cause(exc)) is None:
                raise
            raise _interrupted(received, ctx) from None


def _interrupted(exc: KeyboardInterrupt, ctx: typer.Context) -> typer.Exit:
    """Ctrl-C (130) or SIGTERM (143): say so, and what was kept and how to continue."""
    what, code = ("terminated", 143) if isinstance(exc, interrupt.Terminated) else ("interrupted", 130)
    advice = getattr(exc, "advice", None) or ctx.meta.get("interrupt_advice", "rerun the command")
    console.print(f"[bold red]{what}[/]: {advice}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


app = typer.Typer(
    cls=_FriendlyErrors,
    help="Deep learning on fluid simulations, with physical and perceptual losses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # usage errors as plain one-liners, not boxed panels
    add_completion=True,  # --install-completion / --show-completion: Typer's shell completion (bash, zsh, fish)
)


def _versions() -> str:
    """fluidloss's version and those of the libraries its results depend on, read without importing them."""
    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"fluidloss {of('fluidloss')} (torch {of('torch')}, phiflow {of('phiflow')}, phiml {of('phiml')})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_versions())
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print the versions of fluidloss, torch, PhiFlow and phiml, and exit.")) -> None:
    """Deep learning on fluid simulations, with physical and perceptual losses."""


def _register() -> None:
    """Attach every subcommand; each lives in its own module under fluidloss_cli.commands."""
    from fluidloss_cli.commands import benchmark, downsample, evaluate, export, generate, simulate, study, train, weights

    app.command("generate", epilog=examples("generate"))(generate.generate)
    app.command("downsample", epilog=examples("downsample"))(downsample.downsample)
    app.command("export", epilog=examples("export"))(export.export)
    app.add_typer(weights.app, name="weights")
    app.add_typer(train.app, name="train")
    app.add_typer(evaluate.app, name="evaluate")
    app.command("benchmark", epilog=examples("benchmark"))(benchmark.benchmark)
    app.command("simulate", epilog=examples("simulate"))(simulate.simulate)
    app.add_typer(study.app, name="study")


_register()
