"""Periodic boundaries in the native solver, proved from outside the package: the grid's extrapolations are values
(`ZERO_GRADIENT`, `ZERO`, `PERIODIC`), so a doubly periodic scene defined in this file alone, with a native step
built from the package's periodic Laplacian, advection and Fourier projection, runs `generate` under the default
native solver and matches its own PhiFlow step.

The scene, `taylorgreen`: the Taylor-Green vortex on a 2 pi x 2 pi torus with a little seeded noise, diffused with
viscosity 1/Re, advected by itself and made incompressible.
"""

import math

import h5py
import numpy as np
import pytest
import torch
from phi import math as phimath
from phi.field import StaggeredGrid
from phi.math import Solve, extrapolation
from phi.physics import advect, diffuse, fluid

from conftest import run_cli
from fluidloss_cli.engine.native import advect as native_advect, register_native_step, unregister_native_step
from fluidloss_cli.engine.native.grid import PERIODIC, Grid, divergence, index_grids, laplace, staggered_laplace
from fluidloss_cli.engine.native.periodic_projection import project_periodic
from fluidloss_cli.engine.scenes import register_scene, unregister_scene
from fluidloss_cli.engine.scenes.base import Scene, State

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:Rank deficiency")]  # the periodic pressure is free up to a constant

N = 16
GRID = Grid(N, N, 2 * math.pi / N, 2 * math.pi / N)


def taylor_green(position):
    """u = sin x cos y, v = -cos x sin y."""
    x, y = position.vector["x"], position.vector["y"]
    return phimath.stack([phimath.sin(x) * phimath.cos(y), -phimath.cos(x) * phimath.sin(y)],
                         phimath.channel(vector="x,y"))


class TaylorGreen(Scene):
    """Doubly periodic Taylor-Green vortex with seeded noise."""

    name = "taylorgreen"
    domain_size = (2 * math.pi, 2 * math.pi)
    default_resolution = f"{N}x{N}"
    default_dt = 0.1
    default_frames = 6
    fields = ("velocity",)
    render_quantity = "vorticity"
    reynolds_range = (10.0, 1000.0)
    default_reynolds = (100.0,)
    boundaries = {"x": "periodic", "y": "periodic"}

    def set_reynolds(self, reynolds):
        self.viscosity = 1 / reynolds

    def initial_state(self) -> State:
        velocity = StaggeredGrid(taylor_green, extrapolation.PERIODIC, **self.grid)
        return {"velocity": velocity + self.noise(StaggeredGrid, 0.05, extrapolation.PERIODIC, scale=2.0)}

    def physics_step(self, state: State) -> State:
        velocity = diffuse.explicit(state["velocity"], self.viscosity, self.dt)
        velocity = advect.semi_lagrangian(velocity, velocity, self.dt)
        velocity, _ = fluid.make_incompressible(velocity, (), Solve("CG", 1e-7, 1e-7, max_iterations=2000,
                                                                     rank_deficiency=1))
        return {"velocity": velocity}

    def masks(self) -> dict[str, np.ndarray]:
        empty = np.zeros(tuple(self.resolution), np.float32)
        return {"obstacle_mask": empty, "inflow_mask": empty.copy()}


class TaylorGreenStep:
    """The same step in plain torch: the package's periodic operators, batched, one Re per sample."""

    pressure_solve = "Fourier (native, periodic)"

    def __init__(self, resolution, dt, device, dtype, settings=None):
        self.grid = Grid.on(resolution, TaylorGreen.domain_size)
        self.dt = float(dt)

    def __call__(self, frame, reynolds):
        vx, vy = frame["velocity_x"], frame["velocity_y"]
        amount = (1 / reynolds).to(vx.dtype).view(-1, 1, 1) * self.dt
        lx, ly = staggered_laplace(vx, vy, self.grid, PERIODIC)
        vx, vy = native_advect.velocity(vx + amount * lx, vy + amount * ly, self.grid, self.dt, PERIODIC)
        vx, vy, _ = project_periodic(vx, vy, self.grid)
        return {"velocity_x": vx, "velocity_y": vy}


def faces(function_x, function_y, dtype=torch.float64):
    """A staggered velocity [1, N, N+1], [1, N+1, N] sampled from functions of (x, y) at the face positions."""
    ix, iy = index_grids((N, N + 1), "cpu", dtype)
    vx = function_x(ix * GRID.dx, (iy + 0.5) * GRID.dy)
    ix, iy = index_grids((N + 1, N), "cpu", dtype)
    vy = function_y((ix + 0.5) * GRID.dx, iy * GRID.dy)
    return vx[None], vy[None]


def test_the_periodic_laplacian_has_the_discrete_eigenvalues_of_a_fourier_mode():
    vx, _ = faces(lambda x, y: torch.cos(2 * x) * torch.sin(3 * y), lambda x, y: 0 * x)
    expected = ((2 * math.cos(2 * GRID.dx) - 2) / GRID.dx**2 + (2 * math.cos(3 * GRID.dy) - 2) / GRID.dy**2) * vx
    torch.testing.assert_close(laplace(vx, GRID, PERIODIC), expected, rtol=0, atol=1e-12)


def test_periodic_advection_by_one_cell_per_step_rolls_the_field_around():
    vx, vy = faces(lambda x, y: torch.sin(x) + torch.cos(2 * y), lambda x, y: torch.cos(3 * x) * torch.sin(y))
    u = torch.full_like(vx, GRID.dx / 0.5)  # one cell in dt = 0.5, along x only
    ix_new, _ = native_advect.velocity(u, torch.zeros_like(vy), GRID, 0.5, PERIODIC)
    torch.testing.assert_close(ix_new, u)  # a uniform flow stays uniform, the wrapped faces included
    density = torch.sin(index_grids((N, N), "cpu", torch.float64)[0] * GRID.dx)[None] + 0.3
    for advected in (native_advect.cells_semi_lagrangian(density, u, torch.zeros_like(vy), GRID, 0.5, PERIODIC),
                     native_advect.cells_mac_cormack(density, u, torch.zeros_like(vy), GRID, 0.5, PERIODIC)):
        torch.testing.assert_close(advected, torch.roll(density, 1, dims=-1), rtol=0, atol=1e-12)


def test_the_fourier_projection_removes_a_gradient_and_keeps_a_divergence_free_field():
    swirl = faces(lambda x, y: torch.sin(x) * torch.cos(y), lambda x, y: -torch.cos(x) * torch.sin(y))
    assert divergence(*swirl, GRID).abs().max() < 1e-12  # discretely divergence-free on the MAC grid
    ix, iy = index_grids((N, N), "cpu", torch.float64)
    potential = torch.cos((ix + 0.5) * GRID.dx + 2 * (iy + 0.5) * GRID.dy)[None] + 0.7
    gradient_x = torch.diff(PERIODIC.pad(potential, 1, 1, 0, 0), dim=-1) / GRID.dx  # face i: cells i-1 and i
    gradient_y = torch.diff(PERIODIC.pad(potential, 0, 0, 1, 1), dim=-2) / GRID.dy
    vx, vy, pressure = project_periodic(swirl[0] + gradient_x, swirl[1] + gradient_y, GRID)
    assert divergence(swirl[0] + gradient_x, swirl[1] + gradient_y, GRID).abs().max() > 0.1
    torch.testing.assert_close((vx, vy), swirl, rtol=0, atol=1e-12)
    torch.testing.assert_close(pressure, potential - potential.mean(), rtol=0, atol=1e-12)
    assert torch.equal(vx[..., 0], vx[..., -1]) and torch.equal(vy[..., 0, :], vy[..., -1, :])


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Taylor-Green data by each solver, two Reynolds numbers, made by real `generate` command lines."""
    register_scene("taylorgreen", TaylorGreen)
    register_native_step("taylorgreen", TaylorGreenStep)
    try:
        folder = tmp_path_factory.mktemp("taylorgreen")
        for solver in ("native", "phiflow"):
            run_cli("generate", "taylorgreen", "--re", "20", "200", "--solver", solver,
                    "--out", folder / f"{solver}.h5")
        yield {solver: folder / f"{solver}.h5" for solver in ("native", "phiflow")}
    finally:
        unregister_native_step("taylorgreen")
        unregister_scene("taylorgreen")


def test_generate_runs_the_periodic_scene_natively_and_matches_phiflow(datasets):
    with h5py.File(datasets["native"]) as native, h5py.File(datasets["phiflow"]) as phiflow:
        assert native.attrs["solver"] == "native" and sorted(native) == ["sim_0000", "sim_0001"]
        for group in ("sim_0000", "sim_0001"):
            vx, vy = native[group]["velocity_x"][()], native[group]["velocity_y"][()]
            assert vx.shape == (6, N, N + 1) and vy.shape == (6, N + 1, N)
            np.testing.assert_array_equal(vx[:, :, 0], vx[:, :, -1])  # the wrapped faces stay one face
            # PhiFlow's CG runs to 1e-7; the fields change by about 0.1 over the run
            np.testing.assert_allclose(vx, phiflow[group]["velocity_x"][()], atol=1e-5)
            np.testing.assert_allclose(vy, phiflow[group]["velocity_y"][()], atol=1e-5)
            free = divergence(torch.from_numpy(vx[1:]).double(), torch.from_numpy(vy[1:]).double(), GRID)
            assert free.abs().max() < 1e-4
        energy = {group: (native[group]["velocity_x"][()] ** 2).sum(axis=(1, 2)) for group in ("sim_0000", "sim_0001")}
        assert np.all(np.diff(energy["sim_0000"][1:]) < 0)  # it decays ...
        assert energy["sim_0000"][-1] < energy["sim_0001"][-1]  # ... faster at Re 20 than at Re 200
