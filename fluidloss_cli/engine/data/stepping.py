"""The frames `generate` stores, from either solver: PhiFlow's compiled scene step, one simulation after another, or
the native step advancing all of a worker's simulations together in one batched tensor (one viscosity per sample).
Both start from the scene's own initial states, so the two solvers begin identically."""

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from fluidloss_cli.engine import interrupt
from fluidloss_cli.engine.phiflow_grids import cell_tensor, cell_values, face_tensors, velocity_faces
from fluidloss_cli.engine.scenes.base import Scene

Frames = Iterator[list[dict[str, np.ndarray]]]  # per stored frame, one {field: array} per simulation


def stored_fields(scene: Scene) -> list[str]:
    """The per-frame datasets of a scene's simulations."""
    return scene.stored_fields()


Warmed = Callable[[int], None]
"""Called with the number of warm-up frames simulated so far, after each."""


def phiflow_frames(scenes: Sequence[Scene], frames: int, warmup: int, warmed: Warmed = lambda done: None) -> Frames:
    """Frames of PhiFlow's compiled step, each simulation advanced on its own."""
    states = [scene.initial_state() for scene in scenes]
    for done in range(1, warmup + 1):  # start-up transient: simulated, not stored
        interrupt.check()
        states = [scene.step(state) for scene, state in zip(scenes, states)]
        warmed(done)
    for frame in range(frames):
        interrupt.check()
        if frame:
            states = [scene.step(state) for scene, state in zip(scenes, states)]
        yield [{**dict(zip(("velocity_x", "velocity_y"), velocity_faces(state["velocity"]))),
                **({"density": cell_values(state["density"])} if "density" in state else {})} for state in states]


def initial_frame(scenes: Sequence[Scene]) -> dict[str, torch.Tensor]:
    """The scenes' initial states as one batched native frame (float32)."""
    states = [scene.initial_state() for scene in scenes]
    faces = [face_tensors(state["velocity"]) for state in states]
    frame = {"velocity_x": torch.stack([vx for vx, _ in faces]), "velocity_y": torch.stack([vy for _, vy in faces])}
    if "density" in states[0]:
        frame["density"] = torch.stack([cell_tensor(state["density"]) for state in states])
    return {name: values.detach().float() for name, values in frame.items()}


def native_frames(scenes: Sequence[Scene], frames: int, warmup: int, warmed: Warmed = lambda done: None) -> Frames:
    """Frames of the native step, all simulations advanced together as one batch on the CPU."""
    from fluidloss_cli.engine.native import native_step

    first = scenes[0]
    step = native_step(first.name, first.resolution, first.dt)
    reynolds = torch.tensor([np.nan if scene.reynolds is None else scene.reynolds for scene in scenes])
    names = stored_fields(first)
    frame = initial_frame(scenes)
    with torch.no_grad():
        for done in range(1, warmup + 1):
            interrupt.check()
            frame = step(frame, reynolds)
            warmed(done)
        for index in range(frames):
            interrupt.check()
            if index:
                frame = step(frame, reynolds)
            arrays = {name: frame[name].numpy() for name in names}
            yield [{name: arrays[name][i] for name in names} for i in range(len(scenes))]


STEPPERS = {"phiflow": phiflow_frames, "native": native_frames}


def solver_parameters(solver: str, scene: Scene) -> dict:
    """The scene's parameters as stored with each simulation, with the pressure solve the solver used (PhiFlow's
    are the scene's own, as `simulate` stores them; a native step may describe its own)."""
    if solver == "native":
        from fluidloss_cli.engine.native import step_class

        return {**scene.parameters(),
                "pressure_solve": getattr(step_class(scene.name), "pressure_solve", None) or scene.pressure_solve()}
    return scene.parameters()
