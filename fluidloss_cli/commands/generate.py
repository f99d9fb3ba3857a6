"""`fluidloss generate SCENE`: simulate a dataset (native solver or PhiFlow) and write it to HDF5."""

from pathlib import Path

import typer

from fluidloss_cli.commands.common import (
    COUNT,
    INDEX,
    POSITIVE,
    SEED,
    ConfigOption,
    check_ranges,
    complete_scenes,
    complete_solvers,
    console,
    progress_bar,
)
from fluidloss_cli.engine.outputs import check_output
from fluidloss_cli.engine.resolution import parse_option
from fluidloss_cli.engine.scenes import check_scene, scene_defaults, scene_names
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER, check_solver


def generate(
    scene: str = typer.Argument(..., autocompletion=complete_scenes, help=f"Scene to simulate: {scene_names()}."),
    res: str = typer.Option(None, "--res", help=f"Resolution HxW (default: the scene's: {scene_defaults('resolution')})."),
    re: list[float] = typer.Option(None, "--re", metavar="<float>", help="Reynolds numbers, e.g. --re 1e5 2e5 (karman; default: 1e5, 2e5, ..., 8e5; the study presets use 1e4..2e5, where Re changes the wake more)."),
    seed: list[int] = typer.Option([0], "--seed", metavar="<int>", help="Seeds that perturb the initial state; one simulation per Re and seed."),
    frames: int = typer.Option(None, "--frames", help=f"Frames stored per simulation, the first included (default: the scene's: {scene_defaults('frames')})."),
    dt: float = typer.Option(None, "--dt", help=f"Time step (default: the scene's: {scene_defaults('dt')})."),
    warmup: int = typer.Option(None, "--warmup", help=f"Frames simulated before the first stored one, to skip the start-up transient (default: the scene's: {scene_defaults('warmup')}; see docs/dataset.md)."),
    out: Path = typer.Option(..., "--out", help="Output dataset, FILE.h5.", dir_okay=False),
    workers: int = typer.Option(1, "--workers", help="Parallel worker processes (native: each steps its share of the simulations as one batch)."),
    solver: str = typer.Option(DEFAULT_SOLVER, "--solver", autocompletion=complete_solvers, help="native (plain-torch step, batched) or phiflow (the reference); see docs/native_solver.md."),
    resume: bool = typer.Option(False, "--resume", help="Complete an interrupted run, keeping its finished simulations."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    config: Path = ConfigOption,
) -> None:
    """Simulate SCENE once per Reynolds number and seed and write one HDF5 dataset."""
    check_scene(scene)
    check_solver(solver)
    check_ranges(("--re", re, POSITIVE), ("--seed", seed, SEED), ("--dt", dt, POSITIVE), ("--warmup", warmup, INDEX),
                 ("--workers", workers, COUNT))
    resolution = parse_option(res, "--res")
    check_output(out, overwrite)  # before the heavy imports and the progress bar: a refusal is the only line
    from fluidloss_cli.engine.data.generation import check_disk_room, plan_job
    from fluidloss_cli.engine.data.generation import generate as generate_dataset

    job = plan_job(scene, resolution, frames, dt, re, seed, warmup, solver)
    check_disk_room(job, out)  # before the first line printed; generate checks it again
    per_simulation = job.warmup + job.frames  # the bars count the warm-up frames too: they take the time
    if job.warmup:
        console.print(f"each simulation first runs {job.warmup} warm-up frames (not stored: the start-up transient, "
                      f"--warmup), then stores {job.frames}", highlight=False)
    with progress_bar() as bar:
        total = bar.add_task("all simulations", total=per_simulation * len(job.simulations), unit="frames")
        tasks: dict[int, int] = {}
        counted: dict[int, int] = {}

        def report(index: int, done: int) -> None:
            if index not in tasks:
                spec = job.simulations[index]
                label = f"sim {index}" + (f" Re={spec.reynolds:g}" if spec.reynolds else "") + f" seed={spec.seed}"
                tasks[index] = bar.add_task(label, total=per_simulation, unit="frames")
            bar.update(tasks[index], completed=done)
            bar.advance(total, done - counted.get(index, 0))
            counted[index] = done

        bar.update(total, completed=0)
        computed = generate_dataset(job, out, workers=workers, resume=resume, overwrite=overwrite, progress=report)
        bar.update(total, completed=bar.tasks[total].total)
    kept = len(job.simulations) - len(computed)
    console.print(
        f"wrote [bold]{out}[/]: {scene} {job.resolution}, {len(job.simulations)} simulation(s) x {job.frames} frames ({solver})"
        + (f", each after {job.warmup} warm-up frames" if job.warmup else "")
        + (f" ({kept} kept from the interrupted run)" if kept else ""),
        highlight=False, soft_wrap=True,
    )
