"""Solver-in-the-loop (Um et al. 2020): a scene's coarse solver advancing a batch of dataset frames, with a
learned velocity correction added after every solver step.

Two solvers (engine/solvers.py): `phiflow`, the scene's PhiFlow step, whose states are PhiFlow fields; `native`, the
plain-torch step of engine/native/ with the same discretisation, whose states are the frames themselves (plus the
pressure, carried as the next solve's warm start). The correction is the same for both.

The correction network sees the coarse velocity (stacked on the face grid), density where the scene has one that is
not passive (buoyancy's smoke; not karman's marker, as in Um et al.), the scene's correction masks (obstacle and
inflow), and the Reynolds number as Re / RE_SCALE where the scene has one: the scene declares all of it
(`Scene.scored_fields`, `correction_masks`, `correction_channels`). Everything stays differentiable, so a training
loss on the corrected states reaches the network through the solver.
"""

from collections.abc import Callable

import torch
from phi import math
from phi.math import jit_compile
from torch import nn
from torch.profiler import record_function

from fluidloss_cli.engine.data.statistics import FieldScales
from fluidloss_cli.engine.device import use_for_phiflow
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame, pad_cells, to_grid, unstack_staggered
from fluidloss_cli.engine.memo import cached_per_instance
from fluidloss_cli.engine.native import NativeStep, native_step
from fluidloss_cli.engine.phiflow_grids import cell_tensor, centered_from_cells, face_tensors, staggered_from_faces
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import scene_class
from fluidloss_cli.engine.scenes.base import Scene, State
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER, check_solver

RE_SCALE = 1e6
"""The network's Reynolds channel is Re / RE_SCALE: the study's 1e5..8e5 becomes 0.1..0.8."""

def correction_channels(scene: str) -> tuple[int, int]:
    """(input, output) channels of a scene's correction network (`Scene.correction_channels`)."""
    return scene_class(scene).correction_channels()


def channel_scales(scene: str, scales: FieldScales) -> dict[str, list[float]]:
    """The correction network's `input_scale` and `output_scale` for `train sol --normalize`, in the channel order
    of `CorrectedSolver.network_input`: each scored field's spread, 1 for each mask, the Reynolds numbers' spread in
    the channel's units (Re / RE_SCALE); out: the velocity's spreads, so the network works in units of the data's
    spread, as Um et al.'s code does."""
    cls = scene_class(scene)
    fields = [scales.fields[name] for name in cls.scored_fields()]
    reynolds = [(scales.reynolds or RE_SCALE) / RE_SCALE] if cls.reynolds_range is not None else []
    return {"input_scale": fields + [1.0] * len(cls.correction_masks) + reynolds, "output_scale": fields[:2]}


def state_frame(state: State) -> Frame:
    """The stored fields of a PhiFlow state, as torch tensors that keep their gradients."""
    frame = dict(zip(("velocity_x", "velocity_y"), face_tensors(state["velocity"])))
    if "density" in state:
        frame["density"] = cell_tensor(state["density"])
    return frame


class CorrectedSolver:
    """The coarse solver of one scene, resolution and time step on one device, batched over samples."""

    def __init__(self, scene: str, resolution: Resolution, dt: float, device: torch.device,
                 solver: str = DEFAULT_SOLVER):
        """Build the scene on `device`; its masks become constant input channels of the network. `solver`: native
        (states are frames) or phiflow (states are PhiFlow fields)."""
        use_for_phiflow(device)
        cls = scene_class(scene)
        self.scene: Scene = cls(resolution, dt, cls.reynolds_range and cls.reynolds_range[0], 0)
        self.resolution, self.device, self.solver = resolution, device, check_solver(solver)
        self.template = self.scene.initial_state()  # grids and boundary conditions; pressure starts from it
        self.fields = cls.stored_fields()
        self.compared = cls.scored_fields()
        """The fields the network sees and SOL training scores: all but the scene's passive ones."""
        masks = self.scene.masks()
        self.masks = pad_cells(torch.stack([torch.from_numpy(masks[n]) for n in cls.correction_masks]))
        self.masks = self.masks.to(device)
        self.uses_reynolds = cls.reynolds_range is not None

    @cached_per_instance
    def _batched_scene(self, reynolds: tuple[float, ...]) -> Scene:
        """The scene with one Reynolds number per sample (cached: rollouts reuse its compiled step)."""
        return self.scene.for_batch(reynolds) if self.uses_reynolds else self.scene

    @cached_per_instance
    def _native(self, dtype: torch.dtype) -> NativeStep:
        """The native step in `dtype` (built once: masks, and on the CPU the pressure matrix's factorisation)."""
        return native_step(self.scene.name, self.resolution, self.scene.dt, self.device, dtype)

    def state(self, frame: Frame) -> State | Frame:
        """The solver state of a batch of frames; the pressure guess starts at zero."""
        if self.solver == "native":
            return {name: frame[name] for name in self.fields}
        state = dict(self.template)
        state["velocity"] = staggered_from_faces(frame["velocity_x"], frame["velocity_y"], self.template["velocity"])
        if "density" in self.template:
            state["density"] = centered_from_cells(frame["density"], self.template["density"])
        return state

    def frame(self, state: State | Frame) -> Frame:
        """The stored fields of a state, as torch tensors that keep their gradients."""
        if self.solver == "native":
            return {name: state[name] for name in self.fields}
        return state_frame(state)

    def network_input(self, frame: Frame, reynolds: torch.Tensor) -> torch.Tensor:
        """[B, C, H+1, W+1]: velocity on the face grid, density, masks and Re, as `correction_channels` counts."""
        parts = [to_grid({name: frame[name] for name in self.compared})]
        batch = parts[0].shape[0]
        parts.append(self.masks.expand(batch, -1, -1, -1))
        if self.uses_reynolds:
            parts.append((reynolds / RE_SCALE).to(parts[0].dtype).view(-1, 1, 1, 1).expand_as(parts[-1][:, :1]))
        return torch.cat(parts, dim=1)

    def correct(self, state: State | Frame, reynolds: torch.Tensor, model: nn.Module) -> State | Frame:
        """Add the model's velocity correction to a state."""
        frame = self.frame(state)
        height, width = self.resolution
        correction = model(self.network_input(frame, reynolds)).to(frame["velocity_x"].dtype)  # autocast may give fp16
        dvx, dvy = unstack_staggered(correction, height, width)
        vx, vy = frame["velocity_x"] + dvx, frame["velocity_y"] + dvy
        if self.solver == "native":
            return {**state, "velocity_x": vx, "velocity_y": vy}
        return {**state, "velocity": staggered_from_faces(vx, vy, self.template["velocity"])}

    @cached_per_instance
    def _compiled(self, reynolds: tuple[float, ...], dtype: torch.dtype,
                  model: nn.Module | None) -> Callable[[State], State]:
        """A solver step and the correction of a frozen `model` in one compiled function: the correction then costs
        no PhiFlow grid rebuild and no Python work (the same frames; see benchmarks/bench_simulate.py).
        The model's weights become constants of the compiled step, hence frozen models only."""
        scene = self._batched_scene(reynolds)
        if model is None:
            return scene.step
        if any(p.requires_grad for p in model.parameters()):
            raise ValueError("compiled rollouts need a frozen model (requires_grad_(False)), as checkpoints load")
        per_sample = torch.tensor(reynolds, dtype=dtype, device=self.device)  # the caller's values, exactly

        def corrected_step(state: State) -> State:
            """The solver step, then the correction."""
            return self.correct(scene.physics_step(state), per_sample, model)

        return jit_compile(corrected_step)

    def step(self, state: State | Frame, reynolds: torch.Tensor, model: nn.Module | None = None,
             compiled: bool = False) -> State | Frame:
        """One solver step, then the model's correction. PhiFlow: compiled for rollouts (with a frozen model), plain
        PhiFlow and torch to differentiate in training; native: always plain torch, differentiable."""
        key = tuple(reynolds.tolist()) if self.uses_reynolds and self.solver == "phiflow" else ()  # NaN never equals
        try:
            if compiled and self.solver == "phiflow":
                return self._compiled(key, reynolds.dtype, model)(state)
            with torch.autocast(self.device.type, enabled=False), record_function("sol.solver"):  # full precision
                if self.solver == "native":
                    state = self._native(state["velocity_x"].dtype)(state, reynolds)
                else:
                    state = self._batched_scene(key).physics_step(state)
        except math.ConvergenceException as exc:
            raise FluidlossError(f"the coarse pressure solve failed ({type(exc).__name__}): the (corrected) "
                                 "velocity has diverged; in training, lower --lr or shorten --unroll") from None
        if model is None:
            return state
        with record_function("sol.network"):
            return self.correct(state, reynolds, model)

    @torch.no_grad()
    def rollout(self, frame: Frame, reynolds: torch.Tensor, steps: int, model: nn.Module | None = None,
                progress: Callable[[int], None] = lambda done: None) -> list[Frame]:
        """The frames of `steps` corrected (or, without a model, plain) coarse steps from `frame`; `progress` hears
        the number of steps done after each one."""
        state, frames = self.state(frame), []
        for done in range(1, steps + 1):
            state = self.step(state, reynolds, model, compiled=True)
            frames.append(self.frame(state))
            progress(done)
        return frames
