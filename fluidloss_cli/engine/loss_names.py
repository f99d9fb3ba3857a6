"""The loss registry's names, without torch: every loss a name maps to (module and class of `engine/losses`, with
its arguments), the `--loss "mse+0.1*lsim"` syntax, and the metric lists that name losses and physical measures.

A light module, so a command checks a loss or metric name in the first second, before torch, the data or the
weights are loaded; `engine/losses.build_loss` builds the modules from the same table. A new loss is one module in
`engine/losses/` and one line here (or, from outside the package, a class and `register_loss`).
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.metric_facts import MEASURES

@dataclass(frozen=True)
class LossEntry:
    """A registered loss: its class, the constructor's arguments, and the network whose forward pass dominates its
    cost (None: pointwise, cheap), by which the study groups cells of alike time per sample."""

    cls: object
    """A "module:Class" string within `fluidloss_cli.engine.losses`, or a class registered from outside."""
    args: tuple = ()
    cost: str | None = None


LOSS_CLASSES: dict[str, LossEntry] = {
    "mse": LossEntry("mse:MSELoss"),
    "mae": LossEntry("mae:MAELoss"),
    "lsim": LossEntry("lsim:LSiMLoss", cost="lsim"),
    **{name: LossEntry("vgg:VGGLoss", (layer,), cost="vgg") for name, layer in (
        ("vgg", "relu3_3"), ("vgg1", "relu1_2"), ("vgg2", "relu2_2"), ("vgg3", "relu3_3"), ("vgg4", "relu4_3"))},
    **{name: LossEntry("lpips_loss:LPIPSLoss", (net,), cost="lpips") for name, net in (
        ("lpips", "alex"), ("lpips-alex", "alex"), ("lpips-vgg", "vgg"), ("lpips-squeeze", "squeeze"))},
}
"""Loss name -> its entry."""


def register_loss(name: str, cls: object, *args: object, cost: str | None = None) -> None:
    """Make a loss known by `name` to every command (`train --loss`, `evaluate --metrics`, study configs): a
    `FieldLoss` subclass or a "module:Class" string within `engine/losses`, built as cls(*args); `cost`: the network
    that dominates its time, if any. Registered once."""
    if name in LOSS_CLASSES or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise FluidlossError(f"loss {name!r} is already registered, or not a lower-case name")
    LOSS_CLASSES[name] = LossEntry(cls, args, cost)


def unregister_loss(name: str) -> None:
    """Forget a loss registered with `register_loss` (tests that define one)."""
    LOSS_CLASSES.pop(name, None)


def cost_class(spec: str) -> str:
    """The networks that dominate a loss's (or metric's) time, joined: `mse+0.1*lsim` -> `lsim`, `mse` -> `cheap`
    (a physical measure or an unknown name: cheap)."""
    terms = re.findall(r"[a-z][a-z0-9_-]*", spec.lower())
    costs = sorted({LOSS_CLASSES[term].cost for term in terms if term in LOSS_CLASSES} - {None})
    return "+".join(costs) or "cheap"


EXPENSIVE: dict[str, str] = {
    "lsim": "every field resized to 224x224 and passed through LSiM's CNN",
    "lpips": "every field enlarged and passed through LPIPS's CNN (AlexNet, VGG or SqueezeNet)",
}
"""The cost classes that take most of an evaluation's time (with LSiM, `evaluate rollout` takes some 10x as long),
and why: the commands announce them before they start (`cost_notice`)."""


def cost_notice(names: list[str], computed: list[str]) -> str | None:
    """The line announcing the expensive metrics among the `computed` ones (those whose weights loaded), with the
    `--metrics` that leaves them out of `names` (the metrics asked for); None when there are none."""
    costly = {name: [part for part in cost_class(name).split("+") if part in EXPENSIVE] for name in computed}
    costly = {name: parts for name, parts in costly.items() if parts}
    if not costly:
        return None
    rest = [name for name in names if name not in costly]
    how = f"--metrics {','.join(rest)}" if rest else "--metrics with cheaper metrics (e.g. mse,mae)"
    them = "them" if len(costly) > 1 else "it"
    why = "; ".join(dict.fromkeys(EXPENSIVE[part] for parts in costly.values() for part in parts))
    return f"{' and '.join(costly)} in --metrics: {why}, the slow part of this evaluation; leave {them} out with {how}"


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
