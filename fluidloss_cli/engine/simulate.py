"""`fluidloss simulate`: one rollout of the study's pipeline (the coarse solver, a SOL correction after every step,
a super-resolution of every frame), from a frame of a dataset or from a scene's own initial state.

The frames are written in the dataset schema (docs/dataset.md, "simulate output"): OUT.h5 holds the coarse
(corrected) rollout, OUT_sr.h5 its super-resolved frames; frame 0 is the start frame. A render shows them next to
the plain coarse solver (when a SOL model corrects it) and a reference: the fine dataset of `--reference`, else the
`--from` dataset itself.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fluidloss_cli.engine.capacity import check_memory
from fluidloss_cli.engine.checkpoints import checkpoint_of
from fluidloss_cli.engine.correction import Frame, state_frame
from fluidloss_cli.engine.data.info import DatasetInfo, read_start, sr_factor
from fluidloss_cli.engine.data.size import check_stored_size
from fluidloss_cli.engine.data.rollout_file import check_finite, stack_frames, write_dataset
from fluidloss_cli.engine.device import to_device
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.lock import refuse_if_locked
from fluidloss_cli.engine.models.sr_net import FACTORS
from fluidloss_cli.engine.outputs import check_output, claim_outputs
from fluidloss_cli.engine.pipeline import Pipeline
from fluidloss_cli.engine.render import Panel, check_target, quantity, render
from fluidloss_cli.engine.resolution import Resolution, parse_resolution
from fluidloss_cli.engine.scenes import scene_class
from fluidloss_cli.engine.scenes.base import Scene

Progress = Callable[[str, int, int], None]
"""(stage, done, total): steps of a rollout, frames of a render."""


@dataclass(frozen=True)
class Request:
    """What `fluidloss simulate` was asked for; None: take it from the dataset, the checkpoint or the scene."""

    scene: str
    out: Path
    resolution: Resolution | None = None
    dt: float | None = None
    steps: int | None = None
    reynolds: float | None = None
    seed: int | None = None
    sol: Path | None = None
    sr: Path | None = None
    source: Path | None = None
    sim: str | None = None
    frame: int | None = None
    reference: Path | None = None
    render: Path | None = None
    quantity: str = "velocity"
    overwrite: bool = False
    amp: str = "off"
    solver: str | None = None
    """The coarse solver; None: the SOL checkpoint's, else the default (engine/solvers.py)."""

    @property
    def sr_out(self) -> Path:
        """Where the super-resolved frames go: OUT_sr.h5 next to OUT.h5."""
        return self.out.with_name(f"{self.out.stem}_sr{self.out.suffix}")


@dataclass(frozen=True)
class Setup:
    """The coarse simulation a rollout continues: its scene (with Re and seed), where it starts, and for how long."""

    scene: Scene
    steps: int
    index: int
    """Number of the start frame in its simulation (0: the scene's initial state)."""
    sim: str | None
    origin: dict[str, Any]
    frames: list[Frame] | None
    """The `--from` dataset's frames index..index+steps ([1, ...] each); None from the initial state."""

    @property
    def described(self) -> str:
        """Where the rollout starts, in words."""
        if self.sim is None:
            return "from the scene's initial state"
        return f"from frame {self.index} of {self.sim} in {self.origin['dataset']}"


def check_request(request: Request, held: bool = False) -> None:
    """Refuse contradictory or pointless flags, and taken outputs, before any work starts; `held`: this process holds
    the outputs' locks (see `outputs.claim_outputs`)."""
    if request.source is None:
        for flag, value in (("--sim", request.sim), ("--start", request.frame), ("--reference", request.reference)):
            if value is not None:
                raise FluidlossError(f"{flag} needs --from FILE.h5: it refers to the simulation the rollout "
                                     "starts from")
    else:
        for flag, value in (("--re", request.reynolds), ("--seed", request.seed)):
            if value is not None:
                raise FluidlossError(f"{flag} sets up the scene's own initial state; with --from, the start frame "
                                     f"and its Reynolds number come from {request.source}")
    if request.reference is not None and request.render is None:
        raise FluidlossError("--reference is drawn as a panel of the render: give --render too")
    if request.steps is not None and request.steps < 1:
        raise FluidlossError(f"--steps must be at least 1, got {request.steps}")
    inputs = [p for p in (request.source, request.reference) if p is not None]
    check_output(request.out, request.overwrite, inputs, held)
    if request.sr is not None:
        check_output(request.sr_out, request.overwrite, inputs, held)
    if request.render is not None:
        if not held:
            refuse_if_locked(request.render)
        check_target(request.render, request.overwrite)


def outputs(request: Request) -> list[Path | None]:
    """Every path `request` writes: the rollout, its super-resolved frames and the render (None: not written)."""
    return [request.out, request.sr_out if request.sr is not None else None, request.render]


def agree(flag: str, given: Any, source: Path, found: Any) -> Any:
    """`found`, as read from `source`; a flag that says otherwise is an error, never silently overridden."""
    if given is not None and given != found:
        raise FluidlossError(f"{flag} {given} does not match {source}, which is {found}")
    return found


def dataset_setup(request: Request) -> Setup:
    """Start from frame `--start` of simulation `--sim` of the `--from` dataset, which also gives scene, grid and dt."""
    source = request.source
    info = DatasetInfo.read(source, "simulate")
    name = agree("scene", request.scene, source, info.scene)
    resolution = agree("--res", request.resolution, source, info.resolution)
    simulations = {sim: (reynolds, seed) for sim, reynolds, seed in info.simulations}
    sim = info.simulations[0][0] if request.sim is None else request.sim
    if sim not in simulations:
        raise FluidlossError(f"{source}: no simulation {sim!r} (it holds {', '.join(simulations)})")
    index = request.frame or 0
    steps = request.steps or info.frames - 1 - index
    if steps < 1:
        raise FluidlossError(f"{source}: {sim} has {info.frames} frames, none after --start {index} to compare with")
    start = read_start(source, sim, index, steps)
    dt = agree("--dt", request.dt, source, start.dt)
    reynolds, seed = simulations[sim]
    return Setup(scene_class(name)(resolution, dt, reynolds, seed), steps, index, sim,
                 {"dataset": str(source), "sim": sim, "frame": index}, [start.frame, *start.reference])


def trained_setup(sol: Path | None, sr: Path | None) -> tuple[Resolution | None, float | None]:
    """The coarse resolution and dt the checkpoints were trained for (SOL first, then SR's input), where given."""
    if sol is not None:
        info = checkpoint_of(sol, "sol")["task_info"]
        return Resolution(*info["resolution"]), float(info["dt"])
    if sr is not None:
        return Resolution(*checkpoint_of(sr, "sr")["datasets"]["coarse"]["resolution"]), None
    return None, None


def first_given(*values: Any) -> Any:
    """The first value that is not None."""
    return next(value for value in values if value is not None)


def scene_setup(request: Request) -> Setup:
    """Start from the scene's own initial state (`--re`, `--seed`); grid and dt from the flags, else the
    checkpoints, else the scene's defaults."""
    cls = scene_class(request.scene)
    trained_resolution, trained_dt = trained_setup(request.sol, request.sr)
    resolution = first_given(request.resolution, trained_resolution, parse_resolution(cls.default_resolution))
    scene = cls(resolution, first_given(request.dt, trained_dt, cls.default_dt), request.reynolds, request.seed or 0)
    return Setup(scene, request.steps or cls.default_frames - 1, 0, None,
                 {"initial_state": {"reynolds": scene.reynolds, "seed": scene.seed}}, None)


def fine_reference(request: Request, setup: Setup, pipeline: Pipeline) -> list[Frame]:
    """The `--reference` dataset's frames of the rollout, checked to be a finer grid of the `--from` simulations (by
    the SR model's factor, when there is one)."""
    coarse, fine = DatasetInfo.read(request.source, "simulate"), DatasetInfo.read(request.reference, "simulate")
    factor = sr_factor(coarse, fine, FACTORS)
    if pipeline.sr and pipeline.sr.factor != factor:
        raise FluidlossError(f"{request.sr} upsamples by {pipeline.sr.factor}, but {request.reference} "
                             f"({fine.resolution}) is {factor}x finer than {request.source} ({coarse.resolution})")
    start = read_start(request.reference, setup.sim, setup.index, setup.steps)
    return [start.frame, *start.reference]


def at_resolution(scene: Scene, resolution: Resolution) -> Scene:
    """The same scene (Re, seed, dt) on another grid: its masks and domain for frames of that resolution."""
    return type(scene)(resolution, scene.dt, scene.reynolds, scene.seed)


def panel(label: str, scene: Scene, fields: dict[str, np.ndarray]) -> Panel:
    """A render panel of frames on `scene`'s grid, titled with the label and the resolution."""
    return Panel(f"{label}\n{scene.resolution}", fields, scene.masks()["obstacle_mask"])


def reference_panel(scene: Scene, reference: list[Frame]) -> Panel:
    """The reference frames as a panel on their own grid (coarse `--from` frames or fine `--reference` ones)."""
    fields = stack_frames(reference)
    rows, faces = fields["velocity_x"].shape[1:]
    return panel("reference", at_resolution(scene, Resolution(rows, faces - 1)), fields)


def heading(setup: Setup) -> Callable[[int], str]:
    """The title of render frame n (the file frame_000n.png): scene, Reynolds number, rollout step n, time, and the
    dataset frame it corresponds to (the rollout starts at `setup.index`)."""
    scene = setup.scene
    name = scene.name + (f", Re = {scene.reynolds:.3g}".replace("e+0", "e") if scene.reynolds is not None else "")
    return lambda n: f"{name}: step {n}, t = {(setup.index + n) * scene.dt:g} (dataset frame {setup.index + n})"


def start_frame(setup: Setup, pipeline: Pipeline, device: torch.device) -> Frame:
    """The rollout's first frame on `device`: the dataset's, or the scene's initial state as the solver stores it."""
    if setup.frames:
        return to_device(setup.frames[0], device)
    return {name: values[None].to(device) for name, values in state_frame(setup.scene.initial_state()).items()}


def check_rollout_size(request: Request, steps: int, start: Frame, pipeline: Pipeline) -> None:
    """Refuse, before the first step, a rollout whose frames (all held in memory until they are written: the rollout,
    its stacked copy, the plain rollout beside a corrected one that is rendered, the super-resolved frames) exceed
    the memory this process can take, or whose datasets cannot fit on the disk of --out."""
    coarse = sum(values.numel() for values in start.values()) * 4 * (steps + 1)
    fine = coarse * pipeline.sr.factor**2 if pipeline.sr else 0
    rollouts = 2 if request.render and request.sol else 1
    check_memory(f"--steps {steps}: a rollout of {steps + 1} frames", 2 * (rollouts * coarse + fine),
                 " (its frames are held in memory until written)")
    check_stored_size(f"--steps {steps}: {request.out}" + (f" and {request.sr_out}" if fine else ""), coarse + fine,
                      Path(request.out).absolute().parent)


def simulate(request: Request, device: torch.device,
             progress: Progress = lambda stage, done, total: None) -> list[tuple[Path, str]]:
    """Run the rollout `request` describes, write its files and render, holding their locks; returns each file
    written, described."""
    check_request(request)
    with claim_outputs(outputs(request), lambda: check_request(request, held=True)):
        return rollout_and_write(request, device, progress)


def rollout_and_write(request: Request, device: torch.device, progress: Progress) -> list[tuple[Path, str]]:
    """The body of `simulate`, its outputs' locks held."""
    setup = dataset_setup(request) if request.source else scene_setup(request)
    scene, steps = setup.scene, setup.steps
    pipeline = Pipeline.build(scene.name, scene.resolution, scene.dt, device, sol=request.sol, sr=request.sr,
                              solver=request.solver, amp=request.amp)
    shown = quantity(request.quantity, pipeline.solver.fields) if request.render else None
    reference = fine_reference(request, setup, pipeline) if request.reference else setup.frames
    start = start_frame(setup, pipeline, device)
    check_rollout_size(request, setup.steps, start, pipeline)
    reynolds = torch.tensor([math.nan if scene.reynolds is None else scene.reynolds], dtype=torch.float64,
                            device=device)
    label = "coarse+SOL" if request.sol else "coarse"
    started = time.perf_counter()
    corrected, upsampled = pipeline.run(start, reynolds, steps, lambda done: progress(label, done, steps))
    seconds = time.perf_counter() - started
    frames = stack_frames([start, *corrected])
    check_finite(frames)
    rollout = {"start": setup.origin, "steps": steps, "sol": str(request.sol) if request.sol else None,
               "sr": str(request.sr) if request.sr else None, "device": str(device),
               "solver": pipeline.solver.solver, "amp": request.amp}
    write_dataset(request.out, scene, frames, scene.parameters(), seconds, rollout)
    written = [(request.out, f"{label} {scene.name} {scene.resolution}, {steps + 1} frames {setup.described}")]
    panels = [panel(label, scene, frames)]
    if upsampled:
        fine_scene = at_resolution(scene, Resolution(*(n * pipeline.sr.factor for n in scene.resolution)))
        fine = stack_frames([pipeline.upsample(start), *upsampled])
        write_dataset(request.sr_out, fine_scene, fine, scene.parameters(), seconds,
                      {**rollout, "coarse": str(request.out)})
        written.append((request.sr_out, f"{label}+SR {fine_scene.resolution}, {steps + 1} frames"))
        panels.append(panel(f"{label}+SR", fine_scene, fine))
    if request.render:
        if request.sol:
            plain, _ = Pipeline(pipeline.solver).run(start, reynolds, steps,
                                                     lambda done: progress("coarse", done, steps))
            panels.insert(0, panel("coarse", scene, stack_frames([start, *plain])))
        if reference:
            panels.append(reference_panel(scene, reference))
        try:
            count = render(panels, shown, scene.domain_size, heading(setup), request.render,
                           lambda done, total: progress("rendering", done, total))
        except FluidlossError as exc:
            raise render_failed(exc, [path for path, _ in written]) from exc
        written.append((request.render, f"{request.quantity}, {len(panels)} panels x {count} frames"))
    return written


def render_failed(exc: FluidlossError, written: list[Path]) -> FluidlossError:
    """The render's error, saying that the datasets written before it are complete (they are kept: the rollout is
    the costly part, and a full disk met only by the images leaves it whole)."""
    kept = " and ".join(str(path) for path in written)
    return FluidlossError(f"{exc}; {kept} {'was' if len(written) == 1 else 'were'} written completely, only the "
                          f"render failed")
