"""The values of a study config's TOML tables, checked: known keys, required keys, types and ranges, lists of numbers;
every problem one line naming where it is."""

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.ranges import STUDY_RANGES, check_ranges


def typed(where: str, data: dict, allowed: dict[str, type], required: tuple[str, ...] = ()) -> dict:
    """`data` checked for unknown keys, missing required ones and value types (ints are fine where floats are)."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise FluidlossError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    missing = [key for key in required if key not in data]
    if missing:
        raise FluidlossError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, value in data.items():
        kind = allowed[key]
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
        if not ok or (kind is int and isinstance(value, bool)):
            raise FluidlossError(f"{where}: {key} must be a {kind.__name__}, got {value!r}")
    check_ranges(*((f"{where}.{key}", value, STUDY_RANGES[key]) for key, value in data.items() if key in STUDY_RANGES))
    return data


def numbers(where: str, values: list, kind: type) -> tuple:
    """A list of numbers of `kind` (ints for seeds, numbers for Reynolds numbers), as a tuple."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and (kind is float or isinstance(v, int))
               for v in values):
        raise FluidlossError(f"{where}: expected a list of {'numbers' if kind is float else 'integers'}, got {values!r}")
    return tuple(kind(v) for v in values)
