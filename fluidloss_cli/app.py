"""The `fluidloss` command: one Typer app, one subcommand module per job."""

import typer
from typer.core import TyperGroup

from fluidloss_cli.commands.common import console, expand_multi_value_flags
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.provenance import record_command_line


class _FriendlyErrors(TyperGroup):
    """Turns engine errors and Ctrl-C into a one-line message and a non-zero exit, never a traceback."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        record_command_line(args)
        return super().parse_args(ctx, expand_multi_value_flags(args))

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except FluidlossError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            console.print("[bold red]interrupted[/]: finished work was kept; rerun with --resume to complete it")
            raise typer.Exit(code=130) from None


app = typer.Typer(
    cls=_FriendlyErrors,
    help="Deep learning on fluid simulations, with physical and perceptual losses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # usage errors as plain one-liners, not boxed panels
    add_completion=False,
)


def _register() -> None:
    """Attach every subcommand; each lives in its own module under fluidloss_cli.commands."""
    from fluidloss_cli.commands import benchmark, downsample, evaluate, generate, simulate, train, weights

    app.command("generate")(generate.generate)
    app.command("downsample")(downsample.downsample)
    app.add_typer(weights.app, name="weights")
    app.add_typer(train.app, name="train")
    app.add_typer(evaluate.app, name="evaluate")
    app.command("benchmark")(benchmark.benchmark)
    app.command("simulate")(simulate.simulate)


_register()
