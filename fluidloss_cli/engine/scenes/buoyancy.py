"""Buoyant smoke plume in a closed 200 x 200 box: smoke enters through a 5 x 100 source at the bottom
centre and rises by buoyancy proportional to its density.

The pressure solve is the exact cosine-transform projection of `engine.phiflow_projection`, which scales to
256 x 256 and beyond (see `engine.cosine_poisson` for why not PhiFlow's sparse CG here).
"""

import numpy as np
from phi.field import CenteredGrid, StaggeredGrid, resample
from phi.physics import advect
from phi.geom import Box
from phi.math import extrapolation, vec

from fluidloss_cli.engine.phiflow_projection import project_closed_box
from fluidloss_cli.engine.scenes import declared_defaults
from fluidloss_cli.engine.scenes.base import Scene, State

BUOYANCY = 0.5  # upward acceleration per unit density
INFLOW_RATE = 1.0  # density added per time unit inside the source


class Buoyancy(Scene):
    """Closed box, smoke source at the bottom; the plume rises, spreads under the lid and curls."""

    name = "buoyancy"
    domain_size = (200.0, 200.0)
    matrix_pressure = False  # exact cosine-transform solve (engine/cosine_poisson.py)
    # warmup 0: the plume's rise from rest is the scene
    default_resolution, default_dt, default_frames, default_warmup = declared_defaults("buoyancy")
    fields = ("velocity", "density")
    passive_fields = ()  # the smoke drives the flow: a correction sees it and is scored on it
    balance_rate = INFLOW_RATE  # closed box: what the source injects stays (inflow_mask: its cell fractions)
    render_quantity = "density"  # the plume itself
    boundaries = {"x": "wall", "y": "wall"}  # closed box: zero normal velocity on all four sides

    source_xy = ((50.0, 150.0), (0.0, 5.0))
    """The smoke source, (x range, y range) in domain units: the one declaration of it, which a variant changes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        (x_range, y_range) = self.source_xy
        self.inflow = CenteredGrid(Box(x=x_range, y=y_range), extrapolation.ZERO_GRADIENT, **self.grid)

    def initial_state(self) -> State:
        velocity = self.noise(StaggeredGrid, 0.05, 0)
        density = CenteredGrid(0, extrapolation.ZERO_GRADIENT, **self.grid)
        return {"velocity": project_closed_box(velocity), "density": density}

    def physics_step(self, state: State) -> State:
        velocity, density = state["velocity"], state["density"]
        density = advect.mac_cormack(density, velocity, self.dt) + INFLOW_RATE * self.dt * self.inflow
        force = resample(density * vec(x=0, y=BUOYANCY), to=velocity)
        velocity = advect.semi_lagrangian(velocity, velocity, self.dt) + self.dt * force
        return {"velocity": project_closed_box(velocity), "density": density}

    def masks(self) -> dict[str, np.ndarray]:
        inflow = self.inflow.values.numpy("y,x").astype(np.float32)
        return {"obstacle_mask": np.zeros_like(inflow), "inflow_mask": inflow}

    def pressure_solve(self) -> str:
        return "exact cosine-transform projection (closed box, no iterations)"

    def parameters(self) -> dict:
        return {**super().parameters(), "buoyancy": BUOYANCY, "inflow_rate": INFLOW_RATE, "source_box_xy": [list(r) for r in self.source_xy]}


class NarrowSourceBuoyancy(Buoyancy):
    """The out-of-distribution variant: a source half as wide (50 instead of 100, centred, same height and rate), so a
    narrower plume carrying half the smoke of any training simulation's of `buoyancy`."""

    name = "buoyancy-narrow-source"
    source_xy = ((75.0, 125.0), (0.0, 5.0))
