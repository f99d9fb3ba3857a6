"""`fluidloss weights`: list, import and download the pretrained weight files that the perceptual losses load."""

from pathlib import Path

import typer

from fluidloss_cli.commands.command_list import WorkflowGroup
from fluidloss_cli.commands.common import POSITIVE, ConfigOption, check_ranges, console
from fluidloss_cli.commands.examples import examples
from fluidloss_cli.engine import weights

app = typer.Typer(cls=WorkflowGroup, help="Pretrained weights of the perceptual losses: list, import, download.", no_args_is_help=True,
                  rich_markup_mode=None)

_INDENT = " " * 16


def _describe(entry: weights.WeightFile) -> list[str]:
    """Lines for one weight file: present or missing, where it is or was looked for, its SHA-256 verdict."""
    path = entry.locate()
    if path is None:
        return [f"{entry.name:<15} missing  {entry.description}",
                *(f"{_INDENT}looked   {p}" for p in entry.candidates()),
                f"{_INDENT}source   {entry.url or 'no download address: weights import ' + entry.name + ' FILE'}"]
    digest = weights.sha256_of(path)
    verdict = "official" if entry.is_official(digest) else f"NOT official (official: {entry.official})"
    return [f"{entry.name:<15} present  {entry.description}",
            f"{_INDENT}file     {path}",
            f"{_INDENT}sha256   {digest}  {verdict}"]


@app.command("list", epilog=examples("weights list"))
def list_weights(config: Path = ConfigOption) -> None:
    """Show each weight file: present or missing, where it was found or looked for, its SHA-256 against the official."""
    for entry in weights.WEIGHTS.values():
        typer.echo("\n".join(_describe(entry)))


@app.command("import", epilog=examples("weights import"))
def import_weights(
    name: str = typer.Argument(..., help=f"Which weight file: {', '.join(weights.WEIGHTS)}."),
    file: Path = typer.Argument(..., help="The file to verify and install into the user cache.", dir_okay=False),
    force: bool = typer.Option(False, "--force", help="Install even if the SHA-256 is not the official one "
                               "(the file must still load into its network)."),
    config: Path = ConfigOption,
) -> None:
    """Verify a weight file (SHA-256 and format) and install it into the user cache under its official name."""
    from fluidloss_cli.engine.losses import WEIGHT_LOADERS

    entry = weights.weight_file(name)
    dest = weights.install(entry, file, WEIGHT_LOADERS[entry.name], force)
    console.print(f"installed {entry.description} weights: {dest}", highlight=False, soft_wrap=True)


@app.command("download", epilog=examples("weights download"))
def download(
    names: list[str] = typer.Argument(None, help="Weight files to fetch; default: every missing one."),
    mirror: str = typer.Option(None, "--mirror", help="Fetch MIRROR/FILENAME instead of the official source."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for the server before giving up."),
    config: Path = ConfigOption,
) -> None:
    """Fetch the official weight files into the user cache, verifying their SHA-256; official files already present are kept, other copies replaced in the cache
    (files with no download address, such as squeezenet-features, are imported instead)."""
    check_ranges(("--timeout", timeout, POSITIVE))
    weights.check_mirror(mirror)
    from fluidloss_cli.engine.losses import WEIGHT_LOADERS

    entries = [weights.weight_file(n) for n in names] if names else [e for e in weights.WEIGHTS.values() if e.url]
    for entry in entries:
        found = entry.locate()
        if found is not None and entry.is_official(weights.sha256_cached(found)):
            console.print(f"{entry.name} is already present: {found}", highlight=False, soft_wrap=True)
            continue
        found = weights.download(entry, WEIGHT_LOADERS[entry.name], mirror, timeout)  # absent, or a damaged copy
        console.print(f"downloaded {entry.description} weights: {found}", highlight=False, soft_wrap=True)
