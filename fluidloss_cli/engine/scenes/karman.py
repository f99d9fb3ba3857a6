"""Karman vortex street: uniform upward flow past a cylinder, the Solver-in-the-Loop scene of Um et al. 2020.

An open channel 100 wide and 200 tall, as their `karman-2d` code sets it up (docs/dataset.md compares the two
line by line): every step, explicit diffusion; then v_y = 1 on the bottom two rows of y-faces and on the left and
right columns of y-faces (their `vel_BcMask`: the inflow covers the whole bottom); semi-Lagrangian advection of a
passive marker density, injected in the 5 x 50 box at the bottom centre, and of the velocity; and the pressure
projection with the cylinder of radius 10 at (50, 50) as obstacle. Viscosity nu = 32**2 / Re (Um et al.'s
convention, 32 cells across being their reference resolution), so Re 1e5..8e5 spans nu = 1e-2..1.3e-3.
"""

import numpy as np
from phi import field, math
from phi.field import CenteredGrid, Field, StaggeredGrid
from phi.geom import Box, Sphere
from phi.math import NUMPY, extrapolation, vec
from phi.physics import advect, diffuse, fluid
from phi.physics.fluid import Obstacle

from fluidloss_cli.engine.scenes import declared_defaults
from fluidloss_cli.engine.scenes.base import Scene, State, Wake

INFLOW_SPEED = 1.0
CYLINDER_CENTRE, CYLINDER_RADIUS = (50.0, 50.0), 10.0
MARKER_RATE = 1.0  # marker density added per time unit inside the marker box (Um et al.: 1 per step of dt 1)
REFERENCE_CELLS = 32
INFLOW_ROWS = 2  # bottom rows of y-faces held at the inflow speed (Um et al.'s vel_BcMask)


class Karman(Scene):
    """Open channel with a cylinder; the wake sheds vortices whose detail depends on Re and the seed."""

    name = "karman"
    domain_size = (200.0, 100.0)
    # warmup 650: shedding develops by frame 635 at 128x64, Re 4e5 (benchmarks/strouhal.py); rounded up
    default_resolution, default_dt, default_frames, default_warmup = declared_defaults("karman")
    fields = ("velocity", "density")
    passive_fields = ("density",)  # the marker: carried and stored, but no input or target of a correction (Um et al.)
    balance_rate = None  # the marker leaves through the open top: its mass balances no scheme (mass_balance NaN)
    boundaries = {"x": "open", "y": "open"}  # zero-gradient velocity, pressure 0 outside; the inflow is imposed inside
    reynolds_range = (1e4, 1e7)
    default_reynolds = tuple(k * 1e5 for k in range(1, 9))  # 1e5 .. 8e5 (the study presets use 1e4 .. 2e5)

    wake = Wake(diameter=2 * CYLINDER_RADIUS, centre=CYLINDER_CENTRE, speed=INFLOW_SPEED)
    """The cylinder (its diameter and centre) in the stream: the one declaration of the obstacle, which a variant
    changes."""
    marker_region = Box(x=(25, 75), y=(5, 10))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        centre_x, centre_y = self.wake.centre
        self.cylinder = Sphere(x=centre_x, y=centre_y, radius=self.wake.diameter / 2)
        self.obstacle = Obstacle(self.cylinder)
        self.marker = CenteredGrid(self.marker_region, extrapolation.ZERO, **self.grid)
        self.inflow_faces = self._face_mask(y_rows=INFLOW_ROWS, y_side_columns=True)
        self.warm_start_faces = self._warm_start_faces()

    def _face_mask(self, y_rows: int = 0, y_side_columns: bool = False, x_block: tuple | None = None) -> Field:
        """A staggered 0/1 field on the velocity's faces: on the y-faces, the bottom `y_rows` rows and (optionally)
        the first and last column; on the x-faces, the index block `x_block` = (rows, columns) slices."""
        height, width = self.resolution
        mask_x, mask_y = np.zeros((height, width + 1)), np.zeros((height + 1, width))
        mask_y[:y_rows] = 1
        if y_side_columns:
            mask_y[:, [0, -1]] = 1
        if x_block is not None:
            mask_x[x_block] = 1
        template = StaggeredGrid(0, extrapolation.BOUNDARY, **self.grid)
        values = [math.tensor(m, math.spatial("y,x")) for m in (mask_x, mask_y)]
        return template.with_values(math.stack(values, math.dual(vector="x,y")))

    def _warm_start_faces(self) -> Field:
        """hard / (1 - soft) on the faces: `make_incompressible` subtracts the pressure gradient on the `hard` faces
        (joining two fluid cells) after scaling every face by 1 - soft (its fraction outside the cylinder); a gradient
        pre-scaled by this mask survives that scaling unchanged."""
        velocity = StaggeredGrid(0, extrapolation.BOUNDARY, **self.grid)
        with NUMPY:  # as make_incompressible builds its masks
            accessible = Field(velocity.geometry, ~self.obstacle.geometry, extrapolation.ONE)
            hard = field.stagger(accessible, math.minimum, velocity.boundary, at=velocity.sampled_at,
                                 dims=velocity.vector.item_names)
        kept = 1 - field.resample(self.obstacle.geometry, velocity, soft=True, balance=1)
        return kept.with_values(math.where(hard.values > 0, math.convert(hard.values) / kept.values, 0))

    def project(self, velocity: Field, previous: Field) -> tuple[Field, Field]:
        """`make_incompressible` warm-started from the previous pressure, written as a solve for the increment from
        zero: subtract the previous pressure's gradient first, then add the increment to it. This is CG from the
        previous pressure (the same iterates), but the guess enters as a traced tensor: a `Solve(x0=...)` is a constant
        of a `jit_compile`d step, frozen at tracing (phiml passes the Solve as an auxiliary argument), so every later
        compiled step would start from that stale guess (100 iterations at 64x32 instead of about 30)."""
        gradient = field.spatial_gradient(previous, velocity.extrapolation, at=velocity.sampled_at, scheme="green-gauss")
        velocity, increment = fluid.make_incompressible(velocity - gradient * self.warm_start_faces, self.obstacle,
                                                        self.cg_solve(None))
        return velocity, previous + increment

    def set_reynolds(self, reynolds: float | math.Tensor) -> None:
        self.viscosity = REFERENCE_CELLS**2 / reynolds

    def initial_state(self) -> State:
        """v_y = 1 everywhere with Um et al.'s sideways poke (v_x = 1 on x-face rows H/2+10..H/2+20, columns
        W/2-2..W/2+2), plus the seed's smooth perturbation; no marker yet."""
        height, width = self.resolution
        poke = self._face_mask(x_block=(slice(height // 2 + 10, height // 2 + 20), slice(width // 2 - 2, width // 2 + 2)))
        velocity = StaggeredGrid(vec(x=0, y=INFLOW_SPEED), extrapolation.BOUNDARY, **self.grid) + poke
        velocity += self.noise(StaggeredGrid, 0.05 * INFLOW_SPEED, extrapolation.BOUNDARY)
        density = CenteredGrid(0, extrapolation.ZERO, **self.grid)
        pressure = CenteredGrid(0, extrapolation.ZERO, **self.grid)
        return {"velocity": velocity, "density": density, "pressure": pressure}

    def impose_inflow(self, velocity: Field) -> Field:
        """Um et al.'s velocity boundary: v_y = 1 on the bottom two rows and the side columns of y-faces."""
        return velocity * (1 - self.inflow_faces) + self.inflow_faces * vec(x=0, y=INFLOW_SPEED)

    def physics_step(self, state: State) -> State:
        velocity = diffuse.explicit(state["velocity"], self.viscosity, self.dt)
        velocity = self.impose_inflow(velocity)
        density = advect.semi_lagrangian(state["density"] + MARKER_RATE * self.dt * self.marker, velocity, self.dt)
        velocity = advect.semi_lagrangian(velocity, velocity, self.dt)
        velocity, pressure = self.project(velocity, state["pressure"])
        return {"velocity": velocity, "density": density, "pressure": pressure}

    def masks(self) -> dict[str, np.ndarray]:
        obstacle = CenteredGrid(self.cylinder, 0, **self.grid).values.numpy("y,x")
        return {"obstacle_mask": (obstacle > 0.5).astype(np.float32),
                "inflow_mask": (self.marker.values.numpy("y,x") > 0.5).astype(np.float32)}

    def pressure_solve(self) -> str:
        return "PhiFlow make_incompressible, CG rel tol 1e-5, abs tol 1e-4, warm start"

    def parameters(self) -> dict:
        return {
            **super().parameters(),
            "viscosity": self.viscosity,
            "viscosity_rule": f"{REFERENCE_CELLS}**2 / Re",
            "inflow_speed": INFLOW_SPEED,
            "inflow_faces": f"v_y on the bottom {INFLOW_ROWS} rows and the side columns of y-faces, every step",
            "cylinder_center_xy": list(self.wake.centre),
            "cylinder_radius": self.wake.diameter / 2,
            "marker_box_xy": [[25.0, 75.0], [5.0, 10.0]],
            "marker_rate": MARKER_RATE,
            "step": "diffuse (explicit) -> inflow faces -> advect marker, velocity (semi-Lagrangian) -> project",
        }


class WideCylinderKarman(Karman):
    """The out-of-distribution variant: a cylinder 1.5x as wide (radius 15) at the same place, so the wake is wider
    and sheds more slowly (Strouhal frequency ~ speed / diameter) than any training simulation's of `karman`."""

    name = "karman-wide-cylinder"
    wake = Wake(diameter=3 * CYLINDER_RADIUS, centre=CYLINDER_CENTRE, speed=INFLOW_SPEED)
