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
from fluidloss_cli.engine.native.pressure import CGSettings
from fluidloss_cli.engine.resolution import Resolution

NativeStep = Callable[[Frame, torch.Tensor], Frame]

STEPS: dict[str, type] = {"karman": KarmanStep, "buoyancy": BuoyancyStep}


def native_step(scene: str, resolution: Resolution, dt: float, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, settings: CGSettings | None = None) -> NativeStep:
    """The native time step of a scene at one resolution and dt on `device`. `settings` default to the scene's
    PhiFlow tolerances, testing convergence every iteration on the CPU and every 10 on CUDA."""
    try:
        cls = STEPS[scene]
    except KeyError:
        raise FluidlossError(f"no native solver for scene {scene!r}: choose one of {', '.join(STEPS)}") from None
    device = torch.device(device)
    settings = settings or CGSettings(check_every=1 if device.type == "cpu" else 10)
    return cls(resolution, dt, device, dtype, settings)


__all__ = ["CGSettings", "NativeStep", "STEPS", "native_step"]
