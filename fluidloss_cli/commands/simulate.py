"""`fluidloss simulate SCENE`: a coarse rollout, corrected by a SOL model and super-resolved by an SR model, written
in the dataset schema and optionally rendered next to the plain coarse solver and a reference."""

from pathlib import Path

import typer

from fluidloss_cli.commands.common import (
    COUNT,
    INDEX,
    POSITIVE,
    SEED,
    START,
    ConfigOption,
    DeviceOption,
    NetworkAmpOption,
    SolverOption,
    check_amp,
    check_inputs,
    check_ranges,
    complete_scenes,
    completer,
    console,
    progress_bar,
)
from fluidloss_cli.engine.defaults import QUANTITIES, names
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import parse_option
from fluidloss_cli.engine.scenes import check_scene, scene_defaults, scene_names

QUANTITY_NAMES = names(QUANTITIES)


def one(flag: str, values: list | None) -> object | None:
    """The single value of a flag that could be repeated; simulate runs one simulation."""
    if values and len(values) > 1:
        raise FluidlossError(f"{flag}: simulate runs one simulation, give one value (got {len(values)})")
    return values[0] if values else None


def simulate(
    scene: str = typer.Argument(..., autocompletion=complete_scenes, help=f"Scene: {scene_names()} (must match --from and the checkpoints)."),
    res: str = typer.Option(None, "--res", help=f"Coarse resolution HxW (default: from --from, --sol or --sr, else the scene's: {scene_defaults('resolution')})."),
    re: list[float] = typer.Option(None, "--re", metavar="<float>", help="Reynolds number of the scene's own initial state (karman)."),
    seed: list[int] = typer.Option(None, "--seed", metavar="<int>", help="Seed of the scene's own initial state (default: 0)."),
    dt: float = typer.Option(None, "--dt", help="Time step (default: from --from or --sol, else the scene's)."),
    steps: int = typer.Option(None, "--steps", help="Solver steps (default: to the end of the --from simulation, else the scene's frames - 1)."),
    sol: Path = typer.Option(None, "--sol", help="SOL checkpoint: corrects the velocity after every coarse step.", dir_okay=False),
    sr: Path = typer.Option(None, "--sr", help="Super-resolution checkpoint applied to every frame; writes OUT_sr.h5.", dir_okay=False),
    source: Path = typer.Option(None, "--from", help="Dataset to start from (its scene, resolution, dt and Re are used).", dir_okay=False),
    sim: str = typer.Option(None, "--sim", help="Simulation (group) of --from to start from (default: the first)."),
    start: int = typer.Option(None, "--start", help=f"Frame of --from to start from (default: {START}, as evaluate's and benchmark's --start)."),
    reference: Path = typer.Option(None, "--reference", help="Fine dataset of the --from simulations, drawn as the reference panel of --render.", dir_okay=False),
    out: Path = typer.Option(..., "--out", help="Output dataset FILE.h5 (and FILE_sr.h5 with --sr).", dir_okay=False),
    render: Path = typer.Option(None, "--render", help="Also draw the frames: out.gif, out.mp4 (needs ffmpeg) or a folder of PNGs."),
    quantity: str = typer.Option("velocity", "--quantity", autocompletion=completer(lambda: QUANTITIES), help=f"What --render shows: {QUANTITY_NAMES}."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    device: str = DeviceOption,
    solver: str = SolverOption,
    amp: str = NetworkAmpOption,
    config: Path = ConfigOption,
) -> None:
    """Roll out the coarse simulation (+SOL every step, +SR every frame) from a dataset frame or the scene's start."""
    check_scene(scene)
    resolution = parse_option(res, "--res")
    reynolds, first_seed = one("--re", re), one("--seed", seed)
    check_ranges(("--re", reynolds, POSITIVE), ("--seed", first_seed, SEED), ("--dt", dt, POSITIVE),
                 ("--steps", steps, COUNT), ("--start", start, INDEX))
    check_amp(amp)
    check_inputs([source, reference], [sol, sr])
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.simulate import Request, check_request
    from fluidloss_cli.engine.simulate import simulate as run_simulation

    request = Request(scene=scene, out=out, resolution=resolution, dt=dt, steps=steps,
                      reynolds=reynolds, seed=first_seed, sol=sol, sr=sr, source=source, sim=sim,
                      frame=start, reference=reference, render=render, quantity=quantity, overwrite=overwrite,
                      solver=solver, amp=amp)
    check_request(request)  # every output, before the device and the progress bar: a refusal is the only line
    target = resolve_device(device)
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, unit="frames")
            bar.update(tasks[stage], completed=done)

        written = run_simulation(request, target, report)
    for path, description in written:
        console.print(f"wrote [bold]{path}[/]: {description}", highlight=False)
