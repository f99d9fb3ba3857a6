"""The PhiFlow speed-ups change no result (same faces, same answers, same simulation steps bit for bit), real steps
use them, and they stand aside for PhiFlow/phiml releases they were not written for."""

import cProfile
import pstats

import phi.field._field as phi_field
import phiml.math as phiml_math
import phiml.math._ops as phiml_ops
import pytest
import torch
from phi import math
from phi.field import StaggeredGrid
from phi.geom import Box

from fluidloss_cli.engine import phiflow_patch
from fluidloss_cli.engine.correction import CorrectedSolver
from fluidloss_cli.engine.resolution import Resolution

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_patches_are_installed():
    assert phiflow_patch.installed()
    assert phi_field.get_faces is phiflow_patch.memoized_faces
    assert phiml_math.close is phiflow_patch.fast_close and phiml_ops.close is phiflow_patch.fast_close


def calls_during(run) -> dict[str, int]:
    """How often each function ran while `run()` ran, by function name (from the profiler, no instrumentation)."""
    profile = cProfile.Profile()
    profile.runcall(run)
    return {function: calls[1] for (_file, _line, function), calls in pstats.Stats(profile).stats.items()}


def test_a_real_compiled_step_calls_the_patched_functions():
    """A corrected Karman step (compile and then a second, cached call) goes through both replacements."""
    solver = CorrectedSolver("karman", Resolution(32, 16), 1.0, torch.device("cpu"), solver="phiflow")
    start = {name: value[None] for name, value in solver.frame(solver.template).items()}
    calls = calls_during(lambda: solver.rollout(start, torch.tensor([2e5]), 2))
    assert calls.get("memoized_faces", 0) > 0 and calls.get("fast_close", 0) > 0, calls


@pytest.mark.parametrize("installed, applies", [({"phiflow": "3.4.0", "phiml": "1.16.1"}, True),
                                                ({"phiflow": "3.4.2", "phiml": "1.16.0"}, True),
                                                ({"phiflow": "3.5.0", "phiml": "1.16.1"}, False),
                                                ({"phiflow": "3.4.0", "phiml": "1.17.0"}, False)])
def test_other_releases_fall_back_to_phiflows_functions_with_a_warning(installed, applies, capsys):
    try:
        assert phiflow_patch.install(installed) is applies
        assert phiflow_patch.installed() is applies
        assert phi_field.get_faces is (phiflow_patch.memoized_faces if applies else phiflow_patch._faces_of)
        warning = capsys.readouterr().err.strip()
        if applies:
            assert warning == ""
        else:
            assert warning.startswith("warning: ") and "\n" not in warning and "running without them" in warning
            assert ("phiflow 3.5.0" if installed["phiflow"] == "3.5.0" else "phiml 1.17.0") in warning
    finally:
        phiflow_patch.use(True)


@pytest.mark.parametrize("a, b, options", [
    (3, 3, {}), (3, 4, {}), (0, 1, {"abs_tolerance": 1}), (100, 101, {"rel_tolerance": 0.01}),
    (100, 102, {"rel_tolerance": 0.01}), (True, 1, {}), (False, 1, {}), (64, 65, {"rel_tolerance": 0}),
    (1.0, 1.0 + 1e-7, {}), (1.0, 1.0 + 1e-3, {}), (float("inf"), 1e300, {}), (2, 2.0, {}),
    (float("nan"), float("nan"), {"equal_nan": True}),
])
def test_fast_close_answers_as_phiml_does(a, b, options):
    expected = phiflow_patch._close_of(a, b, **options)
    assert phiflow_patch.fast_close(a, b, **options) == expected
    assert phiflow_patch.fast_close(b, a, **options) == phiflow_patch._close_of(b, a, **options)


@pytest.mark.parametrize("boundary", [math.extrapolation.ZERO, math.extrapolation.BOUNDARY,
                                      math.extrapolation.PERIODIC])
def test_memoized_faces_equal_phiflows_for_each_boundary(boundary):
    """Grids of different sizes and boundaries, asked in turn, each get their own faces, equal to PhiFlow's."""
    grids = [StaggeredGrid(0, boundary, x=n, y=2 * n, bounds=Box(x=1, y=2)) for n in (4, 6)]
    for _ in range(2):
        for grid in grids:
            memo = phiflow_patch.memoized_faces(grid.geometry, grid.boundary)
            fresh = phiflow_patch._faces_of(grid.geometry, grid.boundary)
            assert memo.shape == fresh.shape
            assert math.close(memo.center, fresh.center, rel_tolerance=0, abs_tolerance=0)
            assert math.close(memo.volume, fresh.volume, rel_tolerance=0, abs_tolerance=0)


def test_memo_returns_the_same_object_for_the_same_grid():
    grid = StaggeredGrid(0, math.extrapolation.ZERO, x=5, y=3)
    first = phiflow_patch.memoized_faces(grid.geometry, grid.boundary)
    assert phiflow_patch.memoized_faces(grid.geometry, grid.boundary) is first


@pytest.mark.parametrize("scene, resolution, dt", [("karman", Resolution(32, 16), 1.0),
                                                   ("buoyancy", Resolution(32, 32), 0.1)])
def test_rollout_with_patches_equals_rollout_with_phiflows_functions(scene, resolution, dt):
    """Five compiled steps of a real scene give identical frames with and without the speed-ups."""
    frames = {}
    try:
        for patched in (True, False):
            phiflow_patch.use(patched)
            solver = CorrectedSolver(scene, resolution, dt, torch.device("cpu"), solver="phiflow")
            start = {name: value[None] for name, value in solver.frame(solver.template).items()}
            frames[patched] = solver.rollout(start, torch.tensor([2e5]), 5)[-1]
    finally:
        phiflow_patch.use(True)
    for name, value in frames[True].items():
        assert torch.equal(value, frames[False][name]), name


def test_one_geometry_with_two_boundaries_gets_two_face_sets():
    """Closed walls drop the wall faces, open boundaries keep them: the memo must tell the two apart."""
    geometry = StaggeredGrid(0, math.extrapolation.ZERO, x=4, y=3).geometry
    closed = phiflow_patch.memoized_faces(geometry, math.extrapolation.ZERO)
    open_ = phiflow_patch.memoized_faces(geometry, math.extrapolation.BOUNDARY)
    assert closed.shape != open_.shape
    assert open_.shape == phiflow_patch._faces_of(geometry, math.extrapolation.BOUNDARY).shape
