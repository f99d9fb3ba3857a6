"""How a command group lists its commands in `--help`: in the order a user meets them (the workflow), each with its
whole first sentence, wrapped, never cut by click's "..."."""

import typer
from typer.core import TyperGroup

WORKFLOW = ("generate", "downsample", "train", "evaluate", "simulate", "benchmark", "study", "export", "weights")
"""`fluidloss --help`'s order: make data, train, judge, use, time, compare at scale, share; weights last."""


class WorkflowGroup(TyperGroup):
    """A Typer group whose help lists the commands in `order` (others after them, as registered: a group's own
    subcommands) with their full summaries."""

    order: tuple[str, ...] = ()

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: self.order.index(name) if name in self.order else len(self.order))

    def format_commands(self, ctx: typer.Context, formatter) -> None:  # type: ignore[override]
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
