"""The closed-box pressure projection against a float64 dense solve, and at 256x256."""

import numpy as np
import torch
from phi.field import StaggeredGrid
from phi import math
from phi.geom import Box
from phi.math import extrapolation, precision

from fluidloss_cli.engine.phiflow_grids import velocity_faces
from fluidloss_cli.engine.cosine_poisson import solve_neumann_poisson
from fluidloss_cli.engine.phiflow_projection import project_closed_box


def neumann_laplacian(rows: int, cols: int, dy: float, dx: float) -> np.ndarray:
    """The 5-point Laplacian with zero-flux walls as a dense float64 matrix (row-major cells)."""
    def second_difference(n: int, h: float) -> np.ndarray:
        d = np.diag(np.full(n, -2.0)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
        d[0, 0] = d[-1, -1] = -1.0
        return d / h**2
    return np.kron(second_difference(rows, dy), np.eye(cols)) + np.kron(np.eye(rows), second_difference(cols, dx))


def test_cosine_solve_matches_float64_least_squares():
    rows, cols, dy, dx = 12, 9, 0.7, 1.3
    rng = np.random.default_rng(0)
    rhs = rng.standard_normal((rows, cols))
    rhs -= rhs.mean()  # solvable: a closed box conserves mass
    reference = np.linalg.lstsq(neumann_laplacian(rows, cols, dy, dx), rhs.ravel(), rcond=None)[0].reshape(rows, cols)
    reference -= reference.mean()
    ours = solve_neumann_poisson(torch.tensor(rhs), dy, dx).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-10)
    ours32 = solve_neumann_poisson(torch.tensor(rhs, dtype=torch.float32), dy, dx).numpy()
    np.testing.assert_allclose(ours32, reference, atol=2e-5 * np.abs(reference).max())


def cell_divergence(vx: np.ndarray, vy: np.ndarray, h: float) -> np.ndarray:
    return np.diff(vx.astype(np.float64), axis=1) / h + np.diff(vy.astype(np.float64), axis=0) / h


def test_projection_at_256x256_is_exact_in_float64_and_close_in_float32():
    """Beyond phiml's int32 matrix limit (~46k cells): no matrix is built and the result is exact."""
    grid = dict(x=256, y=256, bounds=Box(x=200, y=200))
    h = 200 / 256
    with precision(64):
        velocity = StaggeredGrid(lambda p: p * p.vector["x"] / 2e4, 0, **grid)  # strongly divergent start
        before = np.abs(cell_divergence(*velocity_faces(velocity, dtype=np.float64), h)).max()
        vx64, vy64 = velocity_faces(project_closed_box(velocity), dtype=np.float64)
    assert np.abs(cell_divergence(vx64, vy64, h)).max() < 1e-10 * before
    assert not vx64[:, [0, -1]].any() and not vy64[[0, -1], :].any()
    vx, vy = velocity_faces(project_closed_box(StaggeredGrid(lambda p: p * p.vector["x"] / 2e4, 0, **grid)))
    assert np.abs(vx - vx64).max() < 1e-4 * np.abs(vx64).max() and np.abs(vy - vy64).max() < 1e-4 * np.abs(vy64).max()


def test_projection_is_differentiable():
    grid = dict(x=16, y=16, bounds=Box(x=200, y=200))
    values = torch.randn(2, 15, 16, requires_grad=True)  # interior x-faces [x=15, y=16], y-faces transposed
    vx = math.wrap(values[0], math.spatial("x,y"))
    vy = math.wrap(values[1].T, math.spatial("x,y"))
    velocity = StaggeredGrid(0, extrapolation.ZERO, **grid).with_values(math.stack([vx, vy], math.dual(vector="x,y")))
    projected = project_closed_box(velocity)
    loss = (projected.vector["x"].values.native("x,y") ** 2).sum()
    loss.backward()
    assert values.grad is not None and torch.isfinite(values.grad).all() and values.grad.abs().sum() > 0
