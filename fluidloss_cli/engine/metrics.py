"""The metric columns of an evaluation: losses of the registry (mse, lsim, vgg, ...) and physical measures.

A column computes one value per sample [B] from a predicted and a reference frame. A registry loss whose weights
cannot be loaded becomes a column marked missing, with the reason, instead of stopping the evaluation.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.losses import build_loss, field_loss
from fluidloss_cli.engine.loss_names import parse_metrics
from fluidloss_cli.engine.metric_facts import MetricFacts, facts_of
from fluidloss_cli.engine.physics import (
    Geometry,
    kinetic_energy,
    mass,
    mass_balance,
    mass_error,
    rms_divergence,
    spectrum_error,
    vorticity_correlation,
)


Compute = Callable[[Frame, Frame, Geometry], torch.Tensor]
"""(prediction, reference, geometry) -> one value per sample [B]."""

HIGH_BAND = 0.5
"""`spectrum_high` scores the shells above this fraction of the Nyquist wavenumber."""


def velocity(frame: Frame) -> tuple[torch.Tensor, torch.Tensor]:
    """The staggered velocity (vx, vy) of a frame."""
    return frame["velocity_x"], frame["velocity_y"]


def divergence_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """RMS divergence of the prediction over the cells away from obstacles [B]."""
    return rms_divergence(*velocity(pred), geometry.spacing, geometry.fluid)


def energy_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """Mean kinetic energy of the prediction [B]."""
    return kinetic_energy(*velocity(pred))


def spectrum_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """Log-scale error of the prediction's kinetic-energy spectrum against the reference's [B]."""
    return spectrum_error(velocity(pred), velocity(ref), geometry.spacing)


def spectrum_high_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """The spectrum's log-scale error over the upper half of the resolved wavenumbers alone [B]."""
    return spectrum_error(velocity(pred), velocity(ref), geometry.spacing, above=HIGH_BAND)


def vorticity_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """Correlation of the prediction's vorticity with the reference's [B]."""
    return vorticity_correlation(velocity(pred), velocity(ref), geometry.spacing)


def mass_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """Total density x cell area of the prediction [B]; NaN for frames without density."""
    if "density" not in pred:
        return torch.full_like(pred["velocity_x"][:, 0, 0], float("nan"))
    return mass(pred["density"], geometry.spacing)


def mass_error_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """Relative difference of the prediction's mass from the reference's [B]; NaN for frames without density."""
    if "density" not in pred:
        return torch.full_like(pred["velocity_x"][:, 0, 0], float("nan"))
    return mass_error(pred["density"], ref["density"], geometry.spacing)


def mass_balance_of(pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """Relative excess of the prediction's mass over the mass at the balance's start plus what the scene's source
    injected since [B]; NaN without density, without a start (`Geometry.at`) or for scenes without a balance."""
    if "density" not in pred or geometry.source is None or geometry.origin is None:
        return torch.full_like(pred["velocity_x"][:, 0, 0], float("nan"))
    return mass_balance(pred["density"], geometry.origin, geometry.source, geometry.steps, geometry.spacing)


MEASURES: dict[str, Compute] = {
    "divergence": divergence_of,
    "energy": energy_of,
    "spectrum": spectrum_of,
    "spectrum_high": spectrum_high_of,
    "vorticity": vorticity_of,
    "mass": mass_of,
    "mass_error": mass_error_of,
    "mass_balance": mass_balance_of,
}
"""Physical measure -> its computation; its name, direction and description are `metric_facts.MEASURES`."""


@dataclass(frozen=True)
class Metric(MetricFacts):
    """One metric column: its facts, and how to compute it (None where it is missing)."""

    compute: Compute | None = None
    compares_fields: bool = False
    """A registry loss, summed over the fields compared (all stored ones, or those `measure` is told to score)."""


def loss_per_sample(loss: nn.Module, pred: Frame, ref: Frame, geometry: Geometry) -> torch.Tensor:
    """A registry loss of each sample [B], summed over the reference's fields as `field_loss` does (velocity as
    F(X, X') + F(Y, Y'), plus density where present); one sample at a time, as the losses average over a batch."""
    names = list(ref)
    return torch.stack([field_loss(loss, [pred[n][i:i + 1] for n in names], [ref[n][i:i + 1] for n in names])
                        for i in range(ref[names[0]].shape[0])])


def build_metric(name: str, device: torch.device) -> Metric:
    """The column for one checked name; a loss whose weights fail to load is a missing column with the reason."""
    facts = vars(facts_of(name))
    if name in MEASURES:
        return Metric(**facts, compute=MEASURES[name])
    try:
        loss = build_loss(name, device)
    except FluidlossError as exc:
        return Metric(**facts | {"missing": str(exc)})
    loss.check_finite = False  # a rollout that blew up shows as NaN in its row, not as an abort
    return Metric(**facts, compute=partial(loss_per_sample, loss), compares_fields=True)


def build_metrics(text: str, device: torch.device) -> list[Metric]:
    """The columns for a comma-separated list of metric names, in its order."""
    return [build_metric(name, device) for name in parse_metrics(text)]


@torch.no_grad()
def measure(metrics: list[Metric], pred: Frame, ref: Frame, geometry: Geometry, absolute_only: bool = False,
            scored: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Every available column's values [B] for one predicted and reference frame (absolute ones only, if asked);
    the registry losses compare the `scored` fields only, when given (a SOL rollout: not a scene's passive ones)."""
    fields = list(ref) if scored is None else list(scored)
    compared = ({n: pred[n] for n in fields}, {n: ref[n] for n in fields})
    return {m.name: m.compute(*(compared if m.compares_fields else (pred, ref)), geometry).double().cpu()
            for m in metrics if m.compute is not None and (m.absolute or not absolute_only)}
