"""Pressure projection on a doubly periodic grid: the 5-point Poisson equation solved exactly by the discrete
Fourier transform (its eigenvectors), for native steps of periodic scenes (Taylor-Green, Kolmogorov flow).

PhiFlow's `make_incompressible` solves the same discrete equation, L p = div v, by CG to a tolerance and subtracts
grad p on every face; the mean of p is free (here zero). The solve runs in float64, as `project_closed` does.
"""

import math

import torch

from fluidloss_cli.engine.native.grid import PERIODIC, Grid, divergence


def laplace_eigenvalues(grid: Grid, device: torch.device) -> torch.Tensor:
    """Eigenvalues [H, W] of the periodic 5-point Laplacian for the Fourier modes of `torch.fft.fft2`, float64."""
    ky = torch.arange(grid.height, device=device, dtype=torch.float64) * (2 * math.pi / grid.height)
    kx = torch.arange(grid.width, device=device, dtype=torch.float64) * (2 * math.pi / grid.width)
    return ((2 * torch.cos(ky) - 2) / grid.dy**2)[:, None] + ((2 * torch.cos(kx) - 2) / grid.dx**2)[None, :]


def project_periodic(vx: torch.Tensor, vy: torch.Tensor,
                     grid: Grid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The divergence-free part of a periodic staggered velocity (vx [B, H, W+1], vy [B, H+1, W], each last face the
    first one again, which this makes exactly so) and the pressure [B, H, W] that removed the rest, in the input's
    dtype."""
    dtype = vx.dtype
    vx, vy = vx.double(), vy.double()
    eigenvalues = laplace_eigenvalues(grid, vx.device)
    eigenvalues[0, 0] = 1.0  # the mean mode: the divergence of a periodic field has none, the pressure gets none
    spectrum = torch.fft.fft2(divergence(vx, vy, grid)) / eigenvalues
    spectrum[..., 0, 0] = 0
    pressure = torch.fft.ifft2(spectrum).real
    # face i lies between cells i-1 and i, the wrapped cell W-1 before face 0 and cell 0 after face W
    vx = vx - torch.diff(PERIODIC.pad(pressure, 1, 1, 0, 0), dim=-1) / grid.dx
    vy = vy - torch.diff(PERIODIC.pad(pressure, 0, 0, 1, 1), dim=-2) / grid.dy
    vx, vy = torch.cat([vx[..., :-1], vx[..., :1]], dim=-1), torch.cat([vy[..., :-1, :], vy[..., :1, :]], dim=-2)
    return vx.to(dtype), vy.to(dtype), pressure.to(dtype)
