"""`fluidloss downsample IN.h5 --res HxW --out OUT.h5`: the coarse reference for training."""

from pathlib import Path

import typer

from fluidloss_cli.commands.common import ConfigOption, console, progress_bar
from fluidloss_cli.engine.resolution import parse_resolution


def downsample(
    source: Path = typer.Argument(..., help="Fine dataset to read.", dir_okay=False),
    res: str = typer.Option(..., "--res", help="Coarse resolution HxW; each fine size must be a whole multiple of it."),
    out: Path = typer.Option(..., "--out", help="Coarse dataset to write, FILE.h5.", dir_okay=False),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    config: Path = ConfigOption,
) -> None:
    """Average a fine dataset onto a coarser grid: face fluxes for velocity, cell areas for density."""
    resolution = parse_resolution(res, "--res")
    from fluidloss_cli.engine.data.downsample import check_downsample, downsample_dataset  # h5py: not for --help

    check_downsample(source, resolution, out, overwrite)  # before the progress bar: a refusal is one line
    with progress_bar() as bar:
        task = bar.add_task("downsampling", total=None, unit="frames")

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = downsample_dataset(source, resolution, out, overwrite=overwrite, progress=report)
    console.print(f"wrote [bold]{out}[/]: {summary}", highlight=False)
