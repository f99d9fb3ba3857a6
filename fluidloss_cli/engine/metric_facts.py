"""What a metric column is, apart from how it is computed: its name, its direction (is lower better, higher, or
neither), whether it describes the prediction alone, and a description; with these facts for every physical measure.

A light module (no torch): evaluation files store these facts beside the values, and the study report, the
benchmark and the commands' help read them from here, so the direction of a metric is written once, beside it.
`metrics.py` pairs each physical measure with its computation.
"""

from dataclasses import dataclass
from typing import Any

LOWER, HIGHER = "lower", "higher"
"""Directions: an error (0 best) or a correlation (1 best). A measure with neither describes the prediction alone or
is signed, and is compared with the reference, never ranked."""


@dataclass(frozen=True)
class MetricFacts:
    """One metric column's facts, as evaluation files store them (`to_json`) and readers get them back."""

    name: str
    description: str
    better: str | None = LOWER
    """LOWER, HIGHER, or None where no direction is better (energy, mass: compared with the reference)."""
    absolute: bool = False
    """A measure of the prediction alone (divergence, energy), so the reference has a value too."""
    missing: str | None = None
    """Why the column has no values (its weights are not on this machine); None when it has."""

    @property
    def is_error(self) -> bool:
        """Lower is better: a registry loss or an error measure, the kind of column that judges a row."""
        return self.better == LOWER

    def to_json(self) -> dict[str, Any]:
        """The facts as stored in evaluation.json and frames.json (under `metrics`, by name)."""
        return {"description": self.description, "absolute": self.absolute, "missing": self.missing,
                "better": self.better}

    @classmethod
    def from_json(cls, name: str, stored: dict[str, Any]) -> "MetricFacts":
        """The facts stored for `name`; a physical measure's direction is the one declared here (files written before
        divergence counted as an error store none), a loss's the stored one."""
        better = MEASURES[name].better if name in MEASURES else stored.get("better", facts_of(name).better)
        return cls(name, stored.get("description", ""), better, bool(stored.get("absolute", False)),
                   stored.get("missing"))


MEASURES: dict[str, MetricFacts] = {facts.name: facts for facts in (
    MetricFacts("divergence", "RMS divergence of the velocity away from obstacles (0: incompressible)", LOWER, True),
    MetricFacts("energy", "mean kinetic energy 0.5|u|^2 per cell", None, True),
    MetricFacts("spectrum", "mean |log10 E(k)/E_ref(k)| over the wavenumber shells (0: same spectrum)", LOWER),
    MetricFacts("spectrum_high", "the same over the shells above half the Nyquist wavenumber, the scales a 2x "
                "coarser grid cannot hold (0: same)", LOWER),
    MetricFacts("vorticity", "Pearson correlation of the vorticity with the reference (1: same)", HIGHER),
    MetricFacts("mass", "total density x cell area (NaN without density)", None, True),
    MetricFacts("mass_error", "(mass - reference mass) / reference mass (0: same; NaN without density)", None),
    MetricFacts("mass_balance", "(mass - start mass - injected) / (start mass + injected): mass the scheme gained "
                "since the balance's start (0: conserved; NaN without density or for karman)", None, True),
)}
"""The physical measures' facts, in the order help texts list them; their computations are `metrics.MEASURES`."""


def facts_of(name: str) -> MetricFacts:
    """The facts of a metric name: a physical measure's, else those of a registry loss (an error)."""
    return MEASURES.get(name) or MetricFacts(name, f"registry loss {name} (docs/losses.md)", LOWER)
