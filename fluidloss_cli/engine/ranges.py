"""What values a numeric option may take, declared once for the command line and the study config: the ranges, the
study's table of data and evaluation keys, and the check that turns the first value out of range into one error
line. Torch-free."""

import math
from collections.abc import Callable

from fluidloss_cli.engine.errors import FluidlossError


class Range:
    """What values a numeric option takes, in words for the error line."""

    def __init__(self, test: Callable[[float], bool], wanted: str):
        self.test, self.wanted = test, wanted


SEED_LIMIT = 2**32 - 1
"""numpy's seeds are 0 .. 2**32 - 1."""
COUNT = Range(lambda v: v >= 1, "at least 1")
INDEX = Range(lambda v: v >= 0, "0 or more")
POSITIVE = Range(lambda v: math.isfinite(v) and v > 0, "positive and finite")
SEED = Range(lambda v: 0 <= v <= SEED_LIMIT, f"from 0 to {SEED_LIMIT}")
ODD = Range(lambda v: v >= 1 and v % 2 == 1, "odd and at least 1 (an even kernel has no centre and shifts the grid)")

STUDY_RANGES: dict[str, Range] = {
    "seeds": SEED, "train_seeds": SEED, "test_seeds": SEED, "frames": COUNT, "warmup": INDEX,
    "start": INDEX, "steps": COUNT, "stride": COUNT,
}
"""Study config keys -> their range, for the keys of the data and evaluation commands (the training options' are
checked by their declarations, engine/task_options.py)."""


def check_ranges(*checks: tuple[str, object, Range]) -> None:
    """Refuse, before any work, the first (name, value, range) whose value lies outside its range; a value of None
    (left to a default) passes, and every item of a list is checked."""
    for name, value, wanted in checks:
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None and not wanted.test(item):
                raise FluidlossError(f"{name} must be {wanted.wanted}, got {item}")
