"""The loss registry's names, without torch: every loss a name maps to (module and class of `engine/losses`, with
its arguments), the `--loss "mse+0.1*lsim"` syntax, and the metric lists that name losses and physical measures.

A light module, so a command checks a loss or metric name in the first second, before torch, the data or the
weights are loaded; `engine/losses.build_loss` builds the modules from the same table. A new loss is one module in
`engine/losses/` and one line here (or, from outside the package, a class and `register_loss`).
"""

import math
import re
from collections.abc import Iterable

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.metric_facts import MEASURES

LOSS_CLASSES: dict[str, tuple[object, tuple]] = {
    "mse": ("mse:MSELoss", ()),
    "mae": ("mae:MAELoss", ()),
    "lsim": ("lsim:LSiMLoss", ()),
    "vgg": ("vgg:VGGLoss", ("relu3_3",)),
    "vgg1": ("vgg:VGGLoss", ("relu1_2",)),
    "vgg2": ("vgg:VGGLoss", ("relu2_2",)),
    "vgg3": ("vgg:VGGLoss", ("relu3_3",)),
    "vgg4": ("vgg:VGGLoss", ("relu4_3",)),
    "lpips": ("lpips_loss:LPIPSLoss", ("alex",)),
    "lpips-alex": ("lpips_loss:LPIPSLoss", ("alex",)),
    "lpips-vgg": ("lpips_loss:LPIPSLoss", ("vgg",)),
    "lpips-squeeze": ("lpips_loss:LPIPSLoss", ("squeeze",)),
}
"""Loss name -> (its class: "module:Class" within `fluidloss_cli.engine.losses`, or a class registered from
outside; the constructor's arguments)."""


def register_loss(name: str, cls: object, *args: object) -> None:
    """Make a loss known by `name` to every command (`train --loss`, `evaluate --metrics`, study configs): a
    `FieldLoss` subclass or a "module:Class" string within `engine/losses`, built as cls(*args). Registered once."""
    if name in LOSS_CLASSES or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise FluidlossError(f"loss {name!r} is already registered, or not a lower-case name")
    LOSS_CLASSES[name] = (cls, args)


def unregister_loss(name: str) -> None:
    """Forget a loss registered with `register_loss` (tests that define one)."""
    LOSS_CLASSES.pop(name, None)


_PLUS = re.compile(r"(?<![0-9][eE])\+")
"""A '+' that joins terms, not the sign of an exponent as in 1e+3."""


def parse_spec(spec: str, names: Iterable[str] = LOSS_CLASSES) -> list[tuple[float, str]]:
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


def parse_metrics(text: str) -> list[str]:
    """Split a comma-separated list of metrics and check every name: a physical measure or a registry loss spec."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise FluidlossError(f"metrics {text!r}: no metric named")
    for name in names:
        if name not in MEASURES:
            try:
                parse_spec(name)
            except FluidlossError as exc:
                raise FluidlossError(f"metric {name!r}: not a physical measure ({', '.join(MEASURES)}), nor a "
                                     f"registry loss: {exc}") from None
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FluidlossError(f"metrics {text!r}: {', '.join(repeated)} named more than once")
    return names
