"""Native solver backend: each scene's PhiFlow time step re-written in plain torch on the dataset's face and cell
tensors, batched over simulations and Reynolds numbers, differentiable, with no PhiFlow work per step.

`native_step(scene, resolution, dt)` returns `step(frame, reynolds) -> frame`: frame holds `velocity_x` [B, H, W+1],
`velocity_y` [B, H+1, W] and the scene's other stored fields ([B, H, W], e.g. `density`); `reynolds` is [B] (ignored
by scenes without one). Scenes with an iterative pressure solve also return `pressure` [B, H, W]; passing it back in
the next frame warm-starts the solve. docs/native_solver.md describes the discretisation and its parity with PhiFlow.
"""

import importlib
from collections.abc import Callable

import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.native.obstacle_projection import PressureSolve
from fluidloss_cli.engine.phiflow_setup import configure
from fluidloss_cli.engine.resolution import Resolution

NativeStep = Callable[[Frame, torch.Tensor], Frame]

STEPS: dict[str, str | type] = {"karman": "karman:KarmanStep", "buoyancy": "buoyancy:BuoyancyStep"}
"""Scene name -> its native step class: "module:Class" within this package (loaded on first use), or the class.

A variant of a scene (`scenes.variant`) runs its base's step class, subclassed with the variant's scene class as
its `scene` attribute (so a step class that serves variants reads its geometry from `self.scene`).

A step class is built as `cls(resolution, dt, device, dtype, settings)` (`settings`: a `PressureSolve`, which a
scene without an iterative solve may ignore) and called as `step(frame, reynolds) -> frame` on a batch (see the
module docstring); it must not change its input. An optional class attribute `pressure_solve` (a string) describes
its pressure solve in the dataset's parameters, in place of the scene's own description."""


def register_native_step(scene: str, cls: str | type) -> None:
    """Give the scene `scene` a native step (see STEPS for what the class provides), so that the default solver
    runs it; a scene has at most one."""
    if scene in STEPS:
        raise FluidlossError(f"scene {scene!r} already has a native step")
    STEPS[scene] = cls


def unregister_native_step(scene: str) -> None:
    """Forget a native step registered by `register_native_step`."""
    STEPS.pop(scene, None)


def step_class(scene: str) -> type:
    """The native step class of a scene, loaded (a variant's: its base's on the variant's geometry); a one-line
    error for a scene without one."""
    from fluidloss_cli.engine.scenes import SCENES, scene_class

    base = SCENES[scene].variant_of if scene in SCENES else None
    if scene not in STEPS and base in STEPS and hasattr(step_class(base), "scene"):
        return type(f"{scene_class(scene).__name__}Step", (step_class(base),), {"scene": scene_class(scene)})
    try:
        entry = STEPS[scene]
    except KeyError:
        raise FluidlossError(f"no native solver for scene {scene!r} (scenes with one: {', '.join(STEPS)}): "
                             "use --solver phiflow") from None
    if isinstance(entry, str):
        module, name = entry.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return entry


def native_step(scene: str, resolution: Resolution, dt: float, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, settings: PressureSolve | None = None) -> NativeStep:
    """The native time step of a scene at one resolution and dt on `device`. `settings` default to a factorised
    pressure solve on the CPU (50x faster than CG there, benchmarks/bench_native.py) and, on CUDA, CG at the
    scene's PhiFlow tolerances testing convergence every 10 iterations."""
    cls = step_class(scene)
    configure()  # the masks are sampled by PhiFlow, on the torch backend, whether or not a scene was built first
    device = torch.device(device)
    settings = settings or PressureSolve(factorised=device.type == "cpu", check_every=10)
    return cls(resolution, dt, device, dtype, settings)


__all__ = ["PressureSolve", "NativeStep", "STEPS", "native_step", "register_native_step", "step_class",
           "unregister_native_step"]
