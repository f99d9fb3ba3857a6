"""Karman vortex street: channel flow past a cylinder, the Solver-in-the-Loop scene of Um et al. 2020.

An open channel 100 wide and 200 tall; fluid enters upward through a 5 x 50 inflow rectangle at the
centre of the bottom end and leaves through open boundaries; a cylinder of radius 10 sits in the lower
half. Viscosity follows the study's Reynolds parameter: nu = 32**2 / Re (Um et al.'s convention, 32
cells across being their reference resolution), so Re 1e5..8e5 spans nu = 1e-2..1.3e-3.
"""

import numpy as np
from phi import math
from phi.field import CenteredGrid, StaggeredGrid
from phi.physics import advect, diffuse
from phi.geom import Box, Sphere
from phi.math import extrapolation, vec
from phi.physics import fluid
from phi.physics.fluid import Obstacle

from fluidloss_cli.engine.scenes.base import Scene, State

INFLOW_SPEED = 1.0
REFERENCE_CELLS = 32


class Karman(Scene):
    """Open channel with a cylinder; the wake sheds vortices whose detail depends on Re and the seed."""

    name = "karman"
    domain_size = (200.0, 100.0)
    default_resolution = "128x64"
    default_dt = 1.0
    default_frames = 1500
    fields = ("velocity",)
    reynolds_range = (1e4, 1e7)

    cylinder = Sphere(x=50, y=50, radius=10)
    inflow_region = Box(x=(25, 75), y=(0, 5))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.obstacle = Obstacle(self.cylinder)
        self.inflow_mask = StaggeredGrid(self.inflow_region, extrapolation.BOUNDARY, **self.grid)

    def set_reynolds(self, reynolds: float | math.Tensor) -> None:
        self.viscosity = REFERENCE_CELLS**2 / reynolds

    def initial_state(self) -> State:
        velocity = StaggeredGrid(vec(x=0, y=INFLOW_SPEED), extrapolation.BOUNDARY, **self.grid)
        velocity += self.noise(StaggeredGrid, 0.05 * INFLOW_SPEED, extrapolation.BOUNDARY)
        pressure = CenteredGrid(0, extrapolation.ZERO, **self.grid)
        return {"velocity": velocity, "pressure": pressure}

    def physics_step(self, state: State) -> State:
        velocity = diffuse.explicit(state["velocity"], self.viscosity, self.dt)
        velocity = advect.semi_lagrangian(velocity, velocity, self.dt)
        velocity = velocity * (1 - self.inflow_mask) + self.inflow_mask * vec(x=0, y=INFLOW_SPEED)
        velocity, pressure = fluid.make_incompressible(velocity, self.obstacle, self.cg_solve(state["pressure"]))
        return {"velocity": velocity, "pressure": pressure}

    def masks(self) -> dict[str, np.ndarray]:
        obstacle = CenteredGrid(self.cylinder, 0, **self.grid).values.numpy("y,x")
        inflow = CenteredGrid(self.inflow_region, 0, **self.grid).values.numpy("y,x")
        return {"obstacle_mask": obstacle.astype(np.float32), "inflow_mask": inflow.astype(np.float32)}

    def pressure_solve(self) -> str:
        return "PhiFlow make_incompressible, CG rel tol 1e-5, abs tol 1e-4, warm start"

    def parameters(self) -> dict:
        return {
            **super().parameters(),
            "viscosity": self.viscosity,
            "inflow_speed": INFLOW_SPEED,
            "cylinder_center_xy": [50.0, 50.0],
            "cylinder_radius": 10.0,
            "inflow_box_xy": [[25.0, 75.0], [0.0, 5.0]],
        }
