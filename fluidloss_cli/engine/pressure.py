"""Exact pressure projection for a closed rectangular box, by the discrete cosine transform.

In a closed box without obstacles, PhiFlow's staggered divergence and pressure gradient combine into
the 5-point Laplacian with Neumann walls, whose eigenvectors are cosines. Solving in that basis is
exact (no iterations, no tolerance), differentiable, traceable by `jit_compile`, and builds no sparse
matrix, so it avoids both phiml 1.16's int32 index overflow beyond ~46k cells and float32 CG
stagnation on the singular Neumann system (see docs/dataset.md, "Pressure solve").
"""

import math as pymath
from functools import lru_cache

import torch
from phi import math
from phi.field import Field


def _cosine_basis(n: int, spacing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal DCT-II matrix (rows are modes) and the 1-D Neumann second-difference eigenvalues."""
    k = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(pymath.pi * k[:, None] * (k[None, :] + 0.5) / n) * pymath.sqrt(2.0 / n)
    basis[0] /= pymath.sqrt(2.0)
    eigen = -4.0 * torch.sin(pymath.pi * k / (2 * n)) ** 2 / spacing**2
    return basis, eigen


@lru_cache(maxsize=16)
def _poisson_operators(n0: int, n1: int, spacing0: float, spacing1: float, dtype: torch.dtype, device: str):
    """Cosine bases along both axes and the inverse 2-D eigenvalues, with the constant mode set to zero."""
    c0, e0 = _cosine_basis(n0, spacing0)
    c1, e1 = _cosine_basis(n1, spacing1)
    eigen = e0[:, None] + e1[None, :]
    eigen[0, 0] = 1.0
    inverse = 1.0 / eigen
    inverse[0, 0] = 0.0  # the pressure's mean is free in a closed box: pick zero
    return tuple(t.to(dtype=dtype, device=device) for t in (c0, c1, inverse))


def solve_neumann_poisson(rhs: torch.Tensor, spacing0: float, spacing1: float) -> torch.Tensor:
    """Solve the 5-point Laplace equation L p = rhs on [..., N0, N1] (grid spacings for the last two
    axes) with zero normal gradient at the walls; the solution has zero mean."""
    c0, c1, inverse = _poisson_operators(*rhs.shape[-2:], spacing0, spacing1, rhs.dtype, str(rhs.device))
    return c0.T @ ((c0 @ rhs @ c1.T) * inverse) @ c1


def project_closed_box(velocity: Field) -> Field:
    """Make a staggered velocity in a closed box (zero normal velocity at walls) divergence-free.

    Computed in float64 whatever the input precision: the pressure can be far larger than the
    velocity correction it yields, and float32 would leave divergence ~1e-3 of the velocity scale.
    """
    dx, dy = (float(s) for s in velocity.dx.numpy("vector"))
    batch_shape = velocity.shape.batch
    order = [*batch_shape.names, "x", "y"]  # PhiFlow's own dimension order, so values wrap back as they are
    vx, vy = (velocity.vector[axis].values.native(order) for axis in "xy")  # interior faces [..., W-1, H], [..., W, H-1]
    dtype = vx.dtype
    vx, vy = vx.double(), vy.double()
    div = torch.diff(torch.nn.functional.pad(vx, (0, 0, 1, 1)), dim=-2) / dx
    div = div + torch.diff(torch.nn.functional.pad(vy, (1, 1)), dim=-1) / dy
    pressure = solve_neumann_poisson(div, dx, dy)
    vx = vx - torch.diff(pressure, dim=-2) / dx
    vy = vy - torch.diff(pressure, dim=-1) / dy
    components = [math.wrap(c.to(dtype), batch_shape, math.spatial("x,y")) for c in (vx, vy)]
    return velocity.with_values(math.stack(components, math.dual(vector="x,y")))
