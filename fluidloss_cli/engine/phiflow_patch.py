"""Two speed-ups to PhiFlow 3.4 / phiml 1.16 that change no result, for the Python work around every compiled step.

1. Face geometry memo. PhiFlow checks the shape of every new `Field` against its sampled elements, and for a
   staggered grid it builds the whole face geometry (centres, normals, areas, sliced by the boundary) for that check
   alone, every time. A compiled step's output and every corrected SOL state are new fields, so this cost 1-8 ms per
   step. Geometries and boundaries are immutable, so the faces of one (geometry, boundary) pair are computed once.
2. Integer fast path of `math.close`. phiml compares grid sizes with `close`, which wraps plain Python numbers into
   tensors and calls numpy; two integers are compared directly, with numpy's formula.

benchmarks/bench_simulate.py times both against PhiFlow's own functions; tests/test_phiflow_patch.py checks that they
give the same answers and the same simulations, bit for bit. Both replace private functions, so `install` applies them
only to the PhiFlow and phiml releases they were written for (pyproject.toml pins those) and otherwise leaves PhiFlow's
own functions in place, with a one-line warning.
"""

import sys
from importlib.metadata import version
from typing import Any

import phi.field._field as phi_field
import phiml.math as phiml_math
import phiml.math._ops as phiml_ops

_faces_of = phi_field.get_faces
_close_of = phiml_ops.close
_memo: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
MAX_ENTRIES = 256
INTEGERS = (int, bool)


def memoized_faces(geometry: Any, boundary: Any) -> Any:
    """PhiFlow's `get_faces`, computed once per (geometry, boundary) object pair; the entry holds both objects, so
    their ids cannot be reused by others while it lives."""
    key = (id(geometry), id(boundary))
    entry = _memo.get(key)
    if entry is None or entry[0] is not geometry or entry[1] is not boundary:
        if len(_memo) >= MAX_ENTRIES:
            _memo.clear()
        entry = _memo[key] = (geometry, boundary, _faces_of(geometry, boundary))
    return entry[2]


def fast_close(*tensors: Any, rel_tolerance: Any = 1e-5, abs_tolerance: Any = 0, equal_nan: bool = False,
               **options: Any) -> bool:
    """phiml's `close`; two plain integers (grid sizes, mostly) are compared directly with numpy's formula
    |a - b| <= abs_tolerance + rel_tolerance * |b|. Floats take phiml's path, which rounds them to its precision."""
    if len(tensors) == 2 and not options and all(type(v) in INTEGERS for v in tensors) \
            and all(type(v) in (*INTEGERS, float) for v in (rel_tolerance, abs_tolerance)):
        a, b = tensors
        return a == b or abs(a - b) <= abs_tolerance + rel_tolerance * abs(b)
    return _close_of(*tensors, rel_tolerance=rel_tolerance, abs_tolerance=abs_tolerance, equal_nan=equal_nan,
                     **options)


PATCHES = {(phi_field, "get_faces"): memoized_faces, (phiml_ops, "close"): fast_close,
           (phiml_math, "close"): fast_close}
"""(module, attribute) -> replacement; phiml.math re-exports `close`, and its shape code calls it from there."""
ORIGINALS = {target: getattr(*target) for target in PATCHES}


WRITTEN_FOR = {"phiflow": "3.4", "phiml": "1.16"}
"""Distribution -> the major.minor release whose internals the patches replace."""


def version_mismatch(installed: dict[str, str] | None = None) -> str | None:
    """Why the installed PhiFlow/phiml differ from the releases the patches are written for, or None if they match."""
    installed = installed or {name: version(name) for name in WRITTEN_FOR}
    wrong = [f"{name} {installed[name]}" for name, release in WRITTEN_FOR.items()
             if installed[name].split(".")[:2] != release.split(".")]
    if not wrong:
        return None
    expected = " / ".join(f"{name} {release}" for name, release in WRITTEN_FOR.items())
    return f"{', '.join(wrong)} installed, but fluidloss's PhiFlow speed-ups are written for {expected}"


def install(installed: dict[str, str] | None = None) -> bool:
    """Apply the speed-ups if the installed versions are the ones they are written for; otherwise keep PhiFlow's own
    functions and warn on one line (results are the same either way, only slower). Returns whether they are applied."""
    mismatch = version_mismatch(installed)
    if mismatch:
        use(False)
        print(f"warning: {mismatch}: running without them (same results, slower)", file=sys.stderr)
        return False
    use(True)
    return True


def use(patched: bool) -> None:
    """Install the speed-ups, or put PhiFlow's own functions back (for benchmarks and tests)."""
    for (module, name), replacement in PATCHES.items():
        setattr(module, name, replacement if patched else ORIGINALS[(module, name)])


def installed() -> bool:
    """Whether the speed-ups are in place now."""
    return all(getattr(module, name) is replacement for (module, name), replacement in PATCHES.items())
