"""Weighted sums of losses: the `--loss "mse+0.1*lsim"` syntax and the module that evaluates it."""

import math
import re
from collections.abc import Iterable

import torch
from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses.base import FieldLoss

_PLUS = re.compile(r"(?<![0-9][eE])\+")
"""A '+' that joins terms, not the sign of an exponent as in 1e+3."""


def parse_spec(spec: str, names: Iterable[str]) -> list[tuple[float, str]]:
    """Split "NAME" or "WEIGHT*NAME" terms joined by '+' into (weight, name) pairs; names are case-insensitive,
    weights positive and finite, each name used once. Anything else raises a FluidlossError naming the valid losses."""
    valid = sorted(names)

    def fail(problem: str) -> FluidlossError:
        """The error for one problem with the spec, with the syntax and the valid names."""
        return FluidlossError(f"loss {spec!r}: {problem}; write NAME or WEIGHT*NAME joined by '+', "
                              f"e.g. 'mse+0.1*lsim'; losses: {', '.join(valid)}")

    terms: list[tuple[float, str]] = []
    for term in _PLUS.split(spec):
        weight_text, star, name = term.rpartition("*")
        name = name.strip().lower()
        if not name:
            raise fail("empty term")
        if name not in valid:
            raise fail(f"unknown loss {name!r}")
        try:
            weight = float(weight_text) if star else 1.0
        except ValueError:
            raise fail(f"weight {weight_text.strip()!r} is not a number") from None
        if not (math.isfinite(weight) and weight > 0):
            raise fail(f"weight of {name} must be positive and finite")
        if any(name == seen for _, seen in terms):
            raise fail(f"{name} appears twice")
        terms.append((weight, name))
    return terms


class CombinedLoss(FieldLoss):
    """A weighted sum of losses; inputs are checked once, then every term adds its weighted per-field distances."""

    def __init__(self, terms: list[tuple[float, FieldLoss]]) -> None:
        """Sum `weight * loss` over the (weight, loss) terms."""
        super().__init__()
        self.weights = [w for w, _ in terms]
        self.terms = nn.ModuleList(loss for _, loss in terms)

    def distances(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the terms' per-field distances [N]."""
        return sum(w * loss.distances(pred, ref) for w, loss in zip(self.weights, self.terms))
