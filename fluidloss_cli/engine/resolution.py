"""Grid resolutions written as `HxW` (rows x columns, image convention), parsed and checked once."""

import re
from typing import NamedTuple

from fluidloss_cli.engine.errors import FluidlossError

_PATTERN = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


class Resolution(NamedTuple):
    """Cells along y (height, rows) and x (width, columns)."""

    height: int
    width: int

    def __str__(self) -> str:
        return f"{self.height}x{self.width}"

    @property
    def cells(self) -> int:
        return self.height * self.width


def parse_resolution(text: str, option: str = "") -> Resolution:
    """Parse `128x64` into Resolution(128, 64); anything else is a one-line error that starts with `option` (the
    flag or config key it was given as, e.g. `--frontier`), so an empty value still says where it came from."""
    where = f"{option}: " if option else ""
    match = _PATTERN.match(str(text))
    if not match:
        raise FluidlossError(f"{where}resolution {text!r} is malformed: expected HxW, e.g. 128x64")
    height, width = int(match.group(1)), int(match.group(2))
    if height < 4 or width < 4:
        raise FluidlossError(f"{where}resolution {text!r} is too small: at least 4 cells per axis")
    return Resolution(height, width)


def parse_option(text: str | None, option: str) -> Resolution | None:
    """A resolution option's value: None when it was not given (its default applies), else parsed; an empty value is
    refused like any malformed one, never taken for "not given"."""
    return None if text is None else parse_resolution(text, option)


def downsample_factors(fine: Resolution, coarse: Resolution) -> tuple[int, int]:
    """Integer factors (fy, fx) that map `fine` onto `coarse`; refuses non-divisible or upward ratios."""
    if fine.height % coarse.height or fine.width % coarse.width:
        raise FluidlossError(f"cannot downsample {fine} to {coarse}: each fine size must be a whole multiple of the coarse one")
    factors = (fine.height // coarse.height, fine.width // coarse.width)
    if min(factors) < 1 or factors == (1, 1):
        raise FluidlossError(f"cannot downsample {fine} to {coarse}: the target must be coarser")
    return factors
