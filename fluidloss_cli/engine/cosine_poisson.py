"""Exact solve of the closed-box pressure equation by the discrete cosine transform, in plain torch.

In a closed box without obstacles, PhiFlow's staggered divergence and pressure gradient combine into
the 5-point Laplacian with Neumann walls, whose eigenvectors are cosines. Solving in that basis is
exact (no iterations, no tolerance), differentiable, traceable by `jit_compile`, and builds no sparse
matrix, so it avoids both phiml 1.16's int32 index overflow beyond ~46k cells and float32 CG
stagnation on the singular Neumann system (see docs/dataset.md, "Pressure solve"). The PhiFlow scene
projects with it through `phiflow_projection`, the native step (`native/buoyancy.py`) directly.
"""

import math
from functools import lru_cache

import torch


def _cosine_basis(n: int, spacing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal DCT-II matrix (rows are modes) and the 1-D Neumann second-difference eigenvalues."""
    k = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(math.pi * k[:, None] * (k[None, :] + 0.5) / n) * math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    eigen = -4.0 * torch.sin(math.pi * k / (2 * n)) ** 2 / spacing**2
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
