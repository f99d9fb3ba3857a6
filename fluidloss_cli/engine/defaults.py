"""Defaults and names that several layers share (commands, training tasks, the study config), written once here; a
light module (no torch, no PhiFlow) so that option checks and `--help` stay fast.

The render quantities of `render.QUANTITIES` (a heavy module) are listed here for help texts and cheap checks;
tests/test_startup.py checks that they match its keys. The physical measures are named in `metric_facts`.
"""

from collections.abc import Iterable

AMP_MODES = ("off", "bf16")
"""`--amp` values: full precision, or the network under bf16 autocast (CUDA, or CPUs with AVX512-BF16)."""

LR_SCHEDULES = ("cosine", "constant")
"""`--lr-schedule` values: Adam's rate cosine-annealed to 0 over the epochs (the default), or constant (Um et al.'s)."""

ACTIVATIONS = ("relu", "leaky_relu")
"""`train sol --activation` values: the SOL network's nonlinearity (ReLU, the default; the PBDL book's LeakyReLU)."""

VAL_SPLIT = 0.1
"""Fraction of the frames `fluidloss train` holds out for validation without a validation file (`--val-split`); the
study keeps it."""

DEFAULT_METRICS = "mse,mae,lsim,lpips,vgg,divergence,energy,spectrum,vorticity"
"""The metric columns of `evaluate rollout` / `evaluate frames` and of a study without `metrics`."""

SR_FACTORS = (2, 4)
"""Super-resolution factors (fine / coarse cells per axis) the SR network supports and the study accepts."""

QUANTITIES = ("velocity", "vorticity", "density")
"""What `simulate --render` can show: the keys of `render.QUANTITIES`, in its order."""


def names(values: Iterable[str]) -> str:
    """A tuple of names as help text: "a, b, c"."""
    return ", ".join(values)
