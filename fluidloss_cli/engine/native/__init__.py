"""Native solver backend: each scene's PhiFlow time step re-written in plain torch on the dataset's face and cell
tensors, batched over simulations and Reynolds numbers, differentiable, with no PhiFlow work per step.

`native_step(scene, resolution, dt)` returns `step(frame, reynolds) -> frame`: frame holds `velocity_x` [B, H, W+1],
`velocity_y` [B, H+1, W] and the scene's other stored fields ([B, H, W], e.g. `density`); `reynolds` is [B] (ignored
by scenes without one). Scenes with an iterative pressure solve also return `pressure` [B, H, W]; passing it back in
the next frame warm-starts the solve. docs/native_solver.md describes the discretisation and its parity with PhiFlow.
"""

from collections.abc import Callable

import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.native.buoyancy import BuoyancyStep
from fluidloss_cli.engine.native.karman import KarmanStep
from fluidloss_cli.engine.native.pressure import PressureSolve
from fluidloss_cli.engine.phiflow_setup import configure
from fluidloss_cli.engine.resolution import Resolution

NativeStep = Callable[[Frame, torch.Tensor], Frame]

STEPS: dict[str, type] = {"karman": KarmanStep, "buoyancy": BuoyancyStep}


def native_step(scene: str, resolution: Resolution, dt: float, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, settings: PressureSolve | None = None) -> NativeStep:
    """The native time step of a scene at one resolution and dt on `device`. `settings` default to a factorised
    pressure solve on the CPU (50x faster than CG there, benchmarks/bench_native.py) and, on CUDA, CG at the
    scene's PhiFlow tolerances testing convergence every 10 iterations."""
    try:
        cls = STEPS[scene]
    except KeyError:
        raise FluidlossError(f"no native solver for scene {scene!r}: choose one of {', '.join(STEPS)}") from None
    configure()  # the masks are sampled by PhiFlow, on the torch backend, whether or not a scene was built first
    device = torch.device(device)
    settings = settings or PressureSolve(factorised=device.type == "cpu", check_every=10)
    return cls(resolution, dt, device, dtype, settings)


__all__ = ["PressureSolve", "NativeStep", "STEPS", "native_step"]
