"""Physical measures of staggered velocity fields, batched in torch: divergence, kinetic energy, the kinetic-energy
spectrum and vorticity, and how a prediction's spectrum and vorticity compare with the reference; and the mass of
a density field, against the reference's or against what a scene's source injected.

Conventions of the stored fields (docs/dataset.md): rows are y, columns x; vx [B, H, W+1] lies on the x-faces, vy
[B, H+1, W] on the y-faces; `spacing` is (dy, dx) = domain_size / resolution. Velocity at cell centres is the mean
of the two faces of a cell along its own axis.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

Spacing = tuple[float, float]
"""(dy, dx): cell height and width in domain units."""

SPECTRUM_FLOOR = 1e-12
"""Shell energies below this fraction of the reference's kinetic energy count as this fraction (empty shells)."""


def divergence(vx: torch.Tensor, vy: torch.Tensor, spacing: Spacing) -> torch.Tensor:
    """Cell-centred divergence [B, H, W]: the net outflow through a cell's faces per unit area."""
    dy, dx = spacing
    return torch.diff(vx, dim=-1) / dx + torch.diff(vy, dim=-2) / dy


def fluid_cells(obstacle: torch.Tensor) -> torch.Tensor:
    """Cells [H, W] with no obstacle in their 3x3 neighbourhood: cells touching an obstacle carry its boundary flux,
    so their divergence says nothing about the flow."""
    solid = (obstacle > 0).float()[None, None]
    return F.max_pool2d(solid, kernel_size=3, stride=1, padding=1)[0, 0] == 0


class Geometry(NamedTuple):
    """What the physical measures need to know about a grid besides the fields: its cell size and obstacles, and for
    the mass balance the scene's source and where in time the frames lie."""

    spacing: Spacing
    fluid: torch.Tensor | None = None
    """Cells [H, W] away from obstacles, where the divergence is measured; None: every cell."""
    source: torch.Tensor | None = None
    """Density [H, W] the scene injects per step; None where no mass balance holds (no source, or open boundaries)."""
    origin: torch.Tensor | None = None
    """Mass [B] of the frame the balance starts from (`at`); None: no balance."""
    steps: torch.Tensor | int = 0
    """Steps [B] (or one for all) from that frame to the measured one."""

    @classmethod
    def of(cls, spacing: Spacing, obstacle: torch.Tensor, source: torch.Tensor | None = None) -> "Geometry":
        """The geometry of a grid of cell size `spacing` with the obstacle mask [H, W] and the source per step."""
        return cls(spacing, fluid_cells(obstacle), source)

    def at(self, origin: torch.Tensor, steps: torch.Tensor | int) -> "Geometry":
        """This geometry for frames `steps` after the densities `origin` [B, H, W] (the balance's start)."""
        return self._replace(origin=mass(origin, self.spacing), steps=steps)


def rms_divergence(vx: torch.Tensor, vy: torch.Tensor, spacing: Spacing,
                   fluid: torch.Tensor | None = None) -> torch.Tensor:
    """Root mean square of the cell divergence [B] over the `fluid` cells [H, W] (all without a mask): zero for an
    incompressible flow."""
    squares = divergence(vx, vy, spacing).square()
    return (squares.mean(dim=(-2, -1)) if fluid is None else squares[..., fluid].mean(dim=-1)).sqrt()


def cell_velocity(vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both velocity components at cell centres [B, H, W], each the mean of a cell's two faces."""
    return (vx[..., :-1] + vx[..., 1:]) / 2, (vy[..., :-1, :] + vy[..., 1:, :]) / 2


def kinetic_energy(vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """Mean kinetic energy per cell [B] of unit density: 0.5 |u|^2 at cell centres, averaged over the grid."""
    u, v = cell_velocity(vx, vy)
    return 0.5 * (u.square() + v.square()).mean(dim=(-2, -1))


def shells(shape: tuple[int, int], spacing: Spacing) -> tuple[torch.Tensor, torch.Tensor]:
    """Shell index of every 2-D Fourier mode [H, W] and the wavenumbers of the shells [K+1] (cycles per unit).

    Shells are dk = 1 / min(domain height, width) wide and centred on multiples of dk; shell K is the last one
    inside the smaller Nyquist wavenumber, so every shell up to K is complete. Modes beyond it get index K + 1."""
    (height, width), (dy, dx) = shape, spacing
    ky, kx = torch.fft.fftfreq(height, d=dy, dtype=torch.float64), torch.fft.fftfreq(width, d=dx, dtype=torch.float64)
    k = torch.sqrt(ky[:, None].square() + kx[None, :].square())
    dk = 1.0 / min(height * dy, width * dx)
    last = math.floor(min(0.5 / dy, 0.5 / dx) / dk + 1e-9)
    index = torch.floor(k / dk + 0.5).long().clamp(max=last + 1)
    return index, torch.arange(last + 1, dtype=torch.float64) * dk


def energy_spectrum(vx: torch.Tensor, vy: torch.Tensor, spacing: Spacing) -> tuple[torch.Tensor, torch.Tensor]:
    """Radially binned kinetic-energy spectrum [B, K+1] and its wavenumbers [K+1]; shell 0 holds the mean flow.

    The energies of all modes sum to `kinetic_energy` (Parseval), so a shell holds the part of the mean kinetic
    energy at its scale; the modes beyond the last whole shell (the corners of the Fourier plane, `shells`) are left
    out. The domain is treated as periodic, for prediction and reference alike."""
    u, v = cell_velocity(vx, vy)
    size = u.shape[-2] * u.shape[-1]
    modes = 0.5 * (torch.fft.fft2(u.double()).abs().square() + torch.fft.fft2(v.double()).abs().square()) / size**2
    index, wavenumbers = shells(tuple(u.shape[-2:]), spacing)
    binned = torch.zeros(u.shape[0], len(wavenumbers) + 1, dtype=torch.float64, device=u.device)
    binned.index_add_(1, index.flatten().to(u.device), modes.flatten(start_dim=1))
    return binned[:, :-1], wavenumbers


def spectrum_error(pred: tuple[torch.Tensor, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor],
                   spacing: Spacing, above: float = 0.0) -> torch.Tensor:
    """Mean over the shells 1..K of |log10(E_pred(k) / E_ref(k))| [B]: the relative error of the spectrum on a log
    scale, every scale weighted alike and the mean flow (shell 0) left out. 0 for equal spectra; log10(4) when the
    prediction is the reference doubled. Energies are floored at `SPECTRUM_FLOOR` times the reference's energy.
    `above` keeps only the shells whose wavenumber exceeds that fraction of the last shell's (0.5: the scales that
    a 2x coarser grid cannot hold, the detail super-resolution must invent)."""
    (predicted, wavenumbers), (reference, _) = energy_spectrum(*pred, spacing), energy_spectrum(*ref, spacing)
    floor = SPECTRUM_FLOOR * reference.sum(dim=1, keepdim=True).clamp(min=torch.finfo(torch.float64).tiny)
    kept = (wavenumbers > above * wavenumbers[-1]).to(predicted.device)
    ratio = predicted[:, kept].clamp(min=floor) / reference[:, kept].clamp(min=floor)
    return ratio.log10().abs().mean(dim=1)


def vorticity(vx: torch.Tensor, vy: torch.Tensor, spacing: Spacing) -> torch.Tensor:
    """Vorticity dvy/dx - dvx/dy at the interior cell corners [B, H-1, W-1], by central differences of the faces."""
    dy, dx = spacing
    return torch.diff(vy[..., 1:-1, :], dim=-1) / dx - torch.diff(vx[..., :, 1:-1], dim=-2) / dy


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each sample's values [B, ...] -> [B]; NaN where either sample is constant."""
    a, b = a.flatten(start_dim=1).double(), b.flatten(start_dim=1).double()
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.square().sum(dim=1) * b.square().sum(dim=1)).sqrt()


def vorticity_correlation(pred: tuple[torch.Tensor, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor],
                          spacing: Spacing) -> torch.Tensor:
    """Pearson correlation of predicted and reference vorticity [B]: 1 when the vortices match up to a scale."""
    return pearson(vorticity(*pred, spacing), vorticity(*ref, spacing))


def mass(density: torch.Tensor, spacing: Spacing) -> torch.Tensor:
    """Total density times cell area [B] of cell-centred densities [B, H, W]."""
    dy, dx = spacing
    return density.double().sum(dim=(-2, -1)) * (dy * dx)


def mass_error(pred: torch.Tensor, ref: torch.Tensor, spacing: Spacing) -> torch.Tensor:
    """(mass of the prediction - mass of the reference) / mass of the reference [B]: 0 when they hold as much."""
    return mass(pred, spacing) / mass(ref, spacing) - 1


def mass_balance(density: torch.Tensor, origin: torch.Tensor, source: torch.Tensor, steps: torch.Tensor | int,
                 spacing: Spacing) -> torch.Tensor:
    """(mass - origin - injected) / (origin + injected) [B]: the relative excess of the densities [B, H, W] over the
    mass `origin` [B] of the frame `steps` earlier plus what the `source` [H, W] (density added per step) injected
    since; 0 for a scheme that conserves mass in a closed domain."""
    injected = mass(source[None], spacing) * torch.as_tensor(steps, dtype=torch.float64, device=density.device)
    expected = origin.to(density.device) + injected
    return (mass(density, spacing) - expected) / expected


def centroid_height(density: torch.Tensor, dy: float) -> torch.Tensor:
    """Height above the bottom of the density's centroid [B] for cell-centred densities [B, H, W] (row j at
    (j + 1/2) dy): how far a plume has risen."""
    rows = (torch.arange(density.shape[-2], dtype=torch.float64) + 0.5) * dy
    per_row = density.double().sum(dim=-1)
    return (per_row * rows).sum(dim=-1) / per_row.sum(dim=-1)
