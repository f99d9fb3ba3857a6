"""`fluidloss export IN.h5 --out OUT.hdf5`: a dataset in The Well's HDF5 layout, for the_well's WellDataset."""

from pathlib import Path

import typer

from fluidloss_cli.commands.common import ConfigOption, console, progress_bar


def export(
    source: Path = typer.Argument(..., help="fluidloss dataset to read.", dir_okay=False),
    out: Path = typer.Option(..., "--out", help="The Well file to write, FILE.hdf5 (or .h5).", dir_okay=False),
    name: str = typer.Option(None, "--name", help="The Well's dataset_name (default: fluidloss_SCENE)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    config: Path = ConfigOption,
) -> None:
    """Write a dataset in The Well's layout: each simulation one trajectory, velocity and density cell-centred, the
    Reynolds number a scalar, the scene's boundaries as boundary conditions (docs/dataset.md)."""
    from fluidloss_cli.engine.data.well import check_export, export_well  # h5py: not for --help

    check_export(source, out, overwrite)  # before the progress bar: a refusal is one line
    with progress_bar() as bar:
        task = bar.add_task("exporting", total=None, unit="frames")

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = export_well(source, out, name=name, overwrite=overwrite, progress=report)
    console.print(f"wrote [bold]{out}[/]: {summary}", highlight=False, soft_wrap=True)
    console.print("read it with the_well: WellDataset(path=ITS_FOLDER); see docs/dataset.md, \"Exporting to The Well\"",
                  highlight=False, soft_wrap=True)
