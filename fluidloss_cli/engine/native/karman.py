"""The Karman scene's time step in plain torch, the discretisation of `engine/scenes/karman.py` (Um et al. 2020):
explicit diffusion, inflow faces imposed, semi-Lagrangian advection of the marker density (plus its source) and of
the velocity, cylinder faces zeroed, pressure projection with open boundaries (zero-gradient velocity, zero pressure
outside).

The static masks (soft obstacle fraction on faces, fluid cells, inflow faces, marker source) are PhiFlow's own
geometry sampling, taken once from the scene object, so both solvers see the same cylinder and inflow to the bit.
"""

import torch
from phi import field, math
from phi.field import Field
from phi.math import NUMPY, extrapolation

from fluidloss_cli.engine.phiflow_grids import cell_tensor, face_tensors
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.native import advect
from fluidloss_cli.engine.native.grid import ZERO, ZERO_GRADIENT, Grid, staggered_laplace
from fluidloss_cli.engine.native.obstacle_projection import PressureSolve, PoissonOperator, project
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes.karman import INFLOW_SPEED, MARKER_RATE, REFERENCE_CELLS, Karman


def karman_masks(resolution: Resolution, cls: type[Karman] = Karman) -> dict[str, torch.Tensor]:
    """PhiFlow's masks of the Karman scene `cls` (or a variant) at a resolution, sampled in float64, as [H, W(+1)]
    tensors: `obstacle_x/_y` (soft fraction of each face inside
    the cylinder, as `apply_boundary_conditions`), `active` (fluid cells, as `make_incompressible`), `inflow_x/_y`
    (faces held at the inflow speed) and `marker` (the marker source's cells)."""
    with math.precision(64):  # sampled in float64 whatever the step's precision
        scene = cls(resolution, cls.default_dt, cls.reynolds_range[0], 0)
        velocity = scene.initial_state()["velocity"]
        with NUMPY:
            accessible = Field(velocity.geometry, ~scene.obstacle.geometry, extrapolation.ONE)
        soft = field.resample(scene.obstacle.geometry, velocity, soft=True, balance=1)
        obstacle_x, obstacle_y = face_tensors(soft)
        inflow_x, inflow_y = face_tensors(scene.inflow_faces)
        marker = cell_tensor(scene.marker)
    active = torch.as_tensor(accessible.values.numpy("y,x"), dtype=obstacle_x.dtype)
    return dict(obstacle_x=obstacle_x, obstacle_y=obstacle_y, active=active, inflow_x=inflow_x, inflow_y=inflow_y,
                marker=marker)


def open_faces(active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces joining two fluid cells, or a fluid cell and the (open, accessible) outside: PhiFlow's `hard_bcs`."""
    padded = ZERO.pad(active.unsqueeze(0), 1, 1, 1, 1)[0]
    padded[0, :], padded[-1, :], padded[:, 0], padded[:, -1] = 1, 1, 1, 1  # outside is accessible
    open_x = torch.minimum(padded[1:-1, :-1], padded[1:-1, 1:])
    open_y = torch.minimum(padded[:-1, 1:-1], padded[1:, 1:-1])
    return open_x, open_y


class KarmanStep:
    """One native Karman step for a batch: frame {velocity_x, velocity_y, density[, pressure]} and Reynolds
    numbers [B]."""

    pressure_solve = "native: PhiFlow's pressure matrix as a sparse LU factorised once in float64 (exact solve)"
    scene: type[Karman] = Karman
    """Whose geometry (cylinder, inflow, marker source) the step takes: a variant's step sets its own."""

    def __init__(self, resolution: Resolution, dt: float, device: torch.device, dtype: torch.dtype,
                 settings: PressureSolve):
        self.grid = Grid.on(resolution, self.scene.domain_size)
        self.dt, self.settings = float(dt), settings
        masks = {k: v.to(device=device, dtype=dtype) for k, v in karman_masks(resolution, self.scene).items()}
        self.keep_x, self.keep_y = 1 - masks["obstacle_x"], 1 - masks["obstacle_y"]
        self.inflow_x, self.inflow_y = masks["inflow_x"], masks["inflow_y"]
        self.source = MARKER_RATE * self.dt * masks["marker"]
        self.operator = PoissonOperator(*open_faces(masks["active"]), masks["active"], self.grid)

    def __call__(self, frame: Frame, reynolds: torch.Tensor) -> Frame:
        vx, vy = frame["velocity_x"], frame["velocity_y"]
        amount = (REFERENCE_CELLS**2 / reynolds).to(vx.dtype).view(-1, 1, 1) * self.dt
        lx, ly = staggered_laplace(vx, vy, self.grid, ZERO_GRADIENT)
        vx, vy = vx + amount * lx, vy + amount * ly
        vx, vy = vx * (1 - self.inflow_x), vy * (1 - self.inflow_y) + self.inflow_y * INFLOW_SPEED
        density = advect.cells_semi_lagrangian(frame["density"] + self.source, vx, vy, self.grid, self.dt, ZERO)
        vx, vy = advect.velocity(vx, vy, self.grid, self.dt, ZERO_GRADIENT)
        guess = frame.get("pressure")
        guess = torch.zeros_like(vx[..., :-1]) if guess is None else guess
        vx, vy, pressure = project(vx * self.keep_x, vy * self.keep_y, self.operator, guess, self.settings)
        return {"velocity_x": vx, "velocity_y": vy, "density": density, "pressure": pressure}

