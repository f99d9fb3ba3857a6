"""Pressure projection with obstacles for the native solver: PhiFlow's `make_incompressible` operator solved by
batched conjugate gradients, differentiable through an implicit (adjoint) backward.

PhiFlow's masked Laplacian, for a pressure that is zero outside the grid (open boundaries), is
    (L p)_c = sum over the faces f of cell c of  open_f (p_neighbour - p_c) / h_f^2   on active cells, p_c elsewhere,
with open_f = 0 on faces that touch an obstacle cell (and on closed walls). Here the solver works with the symmetric
positive-definite M = -L on active cells (identity elsewhere). CG checks convergence every `check_every` iterations
only, so that on CUDA a step waits on the host once per block of iterations, or never with a fixed iteration count
(then a step can be captured whole by CUDA graphs). The backward solves the same symmetric system for the incoming
gradient (the adjoint), so memory does not grow with the iteration count. Alternatively the matrix, which never
changes, is factorised once (sparse LU) and both solves are direct.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from fluidloss_cli.engine.native.grid import Grid


@dataclass(frozen=True)
class PressureSolve:
    """CG tolerances as PhiFlow's `Solve('CG', rel, abs)` (stop when |r|_2 <= max(rel |b|_2, abs) per sample), an
    iteration cap, how often to test convergence (None: run exactly `max_iterations`), and the adjoint's
    relative tolerance, tight enough for gradients to the solver's precision. `factorised`: instead of CG, a
    sparse LU of the (never changing) matrix, factorised once in float64 (scipy, on the CPU; exact to round-off)."""

    rel_tol: float = 1e-5
    abs_tol: float = 1e-4
    max_iterations: int = 2000
    check_every: int | None = 1
    adjoint_rel_tol: float = 1e-6
    factorised: bool = False


class PoissonOperator:
    """M p = -(masked 5-point Laplacian of p) on active cells and p on inactive ones, for [B, H, W] pressures."""

    def __init__(self, open_x: torch.Tensor, open_y: torch.Tensor, active: torch.Tensor, grid: Grid):
        """`open_x` [H, W+1] and `open_y` [H+1, W] are 1 where a face connects two fluid cells (or a fluid cell to
        the open outside), `active` [H, W] is 1 on fluid cells."""
        self.open_x, self.open_y = open_x, open_y
        self.active = active
        self.grid = grid
        fluid = active > 0
        cx, cy = open_x / grid.dx**2, open_y / grid.dy**2
        # neighbour couplings of each fluid cell (west, east, south, north) and the diagonal; identity elsewhere
        self.west, self.east = torch.where(fluid, cx[:, :-1], 0), torch.where(fluid, cx[:, 1:], 0)
        self.south, self.north = torch.where(fluid, cy[:-1], 0), torch.where(fluid, cy[1:], 0)
        self.diagonal = torch.where(fluid, cx[:, :-1] + cx[:, 1:] + cy[:-1] + cy[1:], 1)

    def gradient(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Face gradient of a cell pressure that is zero outside: [B, H, W+1], [B, H+1, W] (all faces)."""
        gx = torch.diff(torch.nn.functional.pad(p, (1, 1)), dim=-1) / self.grid.dx
        gy = torch.diff(torch.nn.functional.pad(p, (0, 0, 1, 1)), dim=-2) / self.grid.dy
        return gx, gy

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        q = torch.nn.functional.pad(p, (1, 1, 1, 1))
        return (self.diagonal * p - self.west * q[..., 1:-1, :-2] - self.east * q[..., 1:-1, 2:]
                - self.south * q[..., :-2, 1:-1] - self.north * q[..., 2:, 1:-1])


    def sparse_matrix(self) -> sp.csc_matrix:
        """This operator as a float64 scipy sparse matrix (five diagonals)."""
        height, width = self.diagonal.shape
        index = np.arange(height * width).reshape(height, width)
        rows, cols, values = [index.ravel()], [index.ravel()], [self.diagonal.double().cpu().numpy().ravel()]
        for coupling, dy, dx in ((self.west, 0, -1), (self.east, 0, 1), (self.south, -1, 0), (self.north, 1, 0)):
            c = coupling.double().cpu().numpy()
            j, i = np.nonzero(c)
            inside = (j + dy >= 0) & (j + dy < height) & (i + dx >= 0) & (i + dx < width)
            j, i = j[inside], i[inside]
            rows.append(index[j, i]), cols.append(index[j + dy, i + dx]), values.append(-c[j, i])
        return sp.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(height * width,) * 2)

    @cached_property
    def factorisation(self) -> spla.SuperLU:
        """Sparse LU of the matrix, computed on first use."""
        return spla.splu(self.sparse_matrix())

    def direct_solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """op(x) = rhs [B, H, W] by the factorisation, in float64 on the CPU, returned on rhs's device and dtype."""
        columns = rhs.detach().double().cpu().reshape(rhs.shape[0], -1).numpy().T
        solution = torch.from_numpy(np.ascontiguousarray(self.factorisation.solve(columns).T))
        return solution.reshape(rhs.shape).to(device=rhs.device, dtype=rhs.dtype)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=(-2, -1), keepdim=True)


def conjugate_gradient(op: PoissonOperator, rhs: torch.Tensor, x0: torch.Tensor, rel_tol: float, abs_tol: float,
                       max_iterations: int, check_every: int | None) -> torch.Tensor:
    """Solve op(x) = rhs per sample by CG from x0; samples that have converged stop moving (as phiml's CG)."""
    x = x0.clone()
    residual = rhs - op(x)
    direction = residual.clone()
    delta = _dot(residual, residual)
    tolerance = torch.clamp(rel_tol**2 * _dot(rhs, rhs), min=abs_tol**2)
    done = 0
    while done < max_iterations:
        block = max_iterations - done if check_every is None else min(check_every, max_iterations - done)
        for _ in range(block):
            moving = delta > tolerance
            q = op(direction)
            curvature = _dot(direction, q)
            step = torch.where(moving & (curvature != 0), delta / curvature, 0)
            x.addcmul_(step, direction)
            residual.addcmul_(step, q, value=-1)
            delta_new = _dot(residual, residual)
            direction.mul_(torch.where(delta != 0, delta_new / delta, 0)).add_(residual)
            delta = torch.where(moving, delta_new, delta)
        done += block
        if check_every is not None and bool((delta <= tolerance).all()):
            break
    return x


class _ImplicitSolve(torch.autograd.Function):
    """x = M^-1 rhs by CG; the backward solves M lambda = dL/dx (M is symmetric) and passes lambda to rhs."""

    @staticmethod
    def forward(ctx, rhs: torch.Tensor, x0: torch.Tensor, op: PoissonOperator, settings: PressureSolve) -> torch.Tensor:
        ctx.op, ctx.settings = op, settings
        if settings.factorised:
            return op.direct_solve(rhs)
        return conjugate_gradient(op, rhs, x0, settings.rel_tol, settings.abs_tol, settings.max_iterations,
                                  settings.check_every)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        s = ctx.settings
        if s.factorised:
            return ctx.op.direct_solve(grad), None, None, None
        adjoint = conjugate_gradient(ctx.op, grad, torch.zeros_like(grad), s.adjoint_rel_tol, 0.0,
                                     s.max_iterations, s.check_every)
        return adjoint, None, None, None


def solve(op: PoissonOperator, rhs: torch.Tensor, x0: torch.Tensor, settings: PressureSolve) -> torch.Tensor:
    """Differentiable solve of op(x) = rhs from the guess x0 (which receives no gradient)."""
    return _ImplicitSolve.apply(rhs, x0.detach(), op, settings)


def project(vx: torch.Tensor, vy: torch.Tensor, op: PoissonOperator, pressure_guess: torch.Tensor,
            settings: PressureSolve) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PhiFlow's pressure projection of a velocity (obstacle faces already zeroed) with open outer boundaries:
    solve L p = div v on the fluid cells, subtract grad p on open faces. Returns (vx, vy, p) with PhiFlow's sign
    of p (L p = div)."""
    div = (torch.diff(vx, dim=-1) / op.grid.dx + torch.diff(vy, dim=-2) / op.grid.dy) * op.active
    pressure = -solve(op, div, -pressure_guess, settings)
    gx, gy = op.gradient(pressure)
    return vx - gx * op.open_x, vy - gy * op.open_y, pressure
