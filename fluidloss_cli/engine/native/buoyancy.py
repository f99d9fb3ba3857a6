"""The buoyancy scene's time step in plain torch, the discretisation of `engine/scenes/buoyancy.py`: MacCormack
advection of the smoke density plus the source, buoyancy force on the y-faces, semi-Lagrangian self-advection of
the velocity in a closed box, and the exact cosine-transform solve of `engine.cosine_poisson` (plain torch already).
"""

import torch
from phi import math

from fluidloss_cli.engine.phiflow_grids import cell_tensor
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.native import advect
from fluidloss_cli.engine.native.grid import ZERO, ZERO_GRADIENT, Grid
from fluidloss_cli.engine.cosine_poisson import solve_neumann_poisson
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes.buoyancy import BUOYANCY, INFLOW_RATE, Buoyancy


def wall_masks(grid: Grid, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """1 on interior faces, 0 on the closed walls: [H, W+1] and [H+1, W]."""
    mx = torch.ones(grid.height, grid.width + 1, device=device, dtype=dtype)
    my = torch.ones(grid.height + 1, grid.width, device=device, dtype=dtype)
    mx[:, 0] = mx[:, -1] = 0
    my[0, :] = my[-1, :] = 0
    return mx, my


def project_closed(vx: torch.Tensor, vy: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Divergence-free part of a closed-box velocity (wall faces zero), in float64 as `project_closed_box`."""
    dtype = vx.dtype
    vx, vy = vx.double(), vy.double()
    div = torch.diff(vx, dim=-1) / grid.dx + torch.diff(vy, dim=-2) / grid.dy
    pressure = solve_neumann_poisson(div, grid.dy, grid.dx)
    vx = vx - torch.nn.functional.pad(torch.diff(pressure, dim=-1), (1, 1)) / grid.dx
    vy = vy - torch.nn.functional.pad(torch.diff(pressure, dim=-2), (0, 0, 1, 1)) / grid.dy
    return vx.to(dtype), vy.to(dtype)


class BuoyancyStep:
    """One native buoyancy step for a batch: frame {velocity_x, velocity_y, density}; the scene has no Reynolds
    number, so the second argument is ignored."""

    scene: type[Buoyancy] = Buoyancy
    """Whose smoke source the step takes: a variant's step sets its own."""

    def __init__(self, resolution: Resolution, dt: float, device: torch.device, dtype: torch.dtype, settings=None):
        with math.precision(64):  # PhiFlow's source mask, sampled in float64 whatever the step's precision
            source = cell_tensor(self.scene(resolution, dt).inflow)
        self.grid = Grid.on(resolution, self.scene.domain_size)
        self.dt = float(dt)
        self.source = (INFLOW_RATE * self.dt * source).to(device=device, dtype=dtype)
        self.walls_x, self.walls_y = wall_masks(self.grid, device, dtype)

    def __call__(self, frame: Frame, reynolds: torch.Tensor | None = None) -> Frame:
        vx, vy, density = frame["velocity_x"], frame["velocity_y"], frame["density"]
        density = advect.cells_mac_cormack(density, vx, vy, self.grid, self.dt, ZERO_GRADIENT) + self.source
        force_y = torch.nn.functional.pad(0.5 * BUOYANCY * (density[:, :-1] + density[:, 1:]), (0, 0, 1, 1))
        vx, vy = advect.velocity(vx, vy, self.grid, self.dt, ZERO)
        vx, vy = vx * self.walls_x, vy * self.walls_y + self.dt * force_y
        vx, vy = project_closed(vx, vy, self.grid)
        return {"velocity_x": vx, "velocity_y": vy, "density": density}
