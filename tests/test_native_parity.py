"""The native solver against PhiFlow, its reference: one step from the same (developed) states, 100-step rollouts,
batched Reynolds numbers, and the gradients of the implicit pressure solve and of unrolled steps."""

import pytest
import torch
from phi import math
from phi.math import Solve

from fluidloss_cli.engine.phiflow_grids import cell_tensor, face_tensors
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.native import PressureSolve, native_step
from fluidloss_cli.engine.native.karman import KarmanStep
from fluidloss_cli.engine.native.obstacle_projection import solve
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import scene_class, scene_family
from fluidloss_cli.engine.scenes.base import State
from fluidloss_cli.engine.scenes.karman import Karman

pytestmark = pytest.mark.usefixtures("one_thread")

SETUPS = [("karman", Resolution(32, 16)), ("karman", Resolution(64, 32)),
          ("buoyancy", Resolution(32, 32)), ("buoyancy", Resolution(64, 64)),
          ("karman-wide-cylinder", Resolution(32, 16)), ("buoyancy-narrow-source", Resolution(32, 32))]
"""The variants run their base's native step on their own geometry: checked like their base."""
WARMUP = {"karman": 60, "buoyancy": 40}  # frames until the flow has structure (shedding starts, plume rises)
RE = 1e5
TIGHT = PressureSolve(rel_tol=1e-13, abs_tol=1e-13, max_iterations=5000, adjoint_rel_tol=1e-13)
FACTORISED = PressureSolve(factorised=True)


def tight_cg_solve(pressure_guess):
    """CG solved to float64 precision, so that steps compare discretisations, not tolerances."""
    return Solve("CG", 1e-13, 1e-13, max_iterations=5000, x0=pressure_guess)


def to_frame(state: State) -> Frame:
    """A PhiFlow state as a batch-of-one native frame (pressure included, as the warm start)."""
    vx, vy = face_tensors(state["velocity"])
    frame = {"velocity_x": vx[None], "velocity_y": vy[None]}
    frame.update({k: cell_tensor(state[k])[None] for k in ("density", "pressure") if k in state})
    return frame


def relative(a: Frame, b: Frame) -> float:
    """Largest max-norm difference of the stored fields relative to the max-norm of b's."""
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max()) for k in ("velocity_x", "velocity_y", "density"))


def phiflow_scene(name: str, resolution: Resolution, tight: bool = False):
    cls = scene_class(name)
    if tight and issubclass(cls, Karman):  # the Karman scene (or its variant) with tight_cg_solve
        cls = type(f"Tight{cls.__name__}", (cls,), {"cg_solve": staticmethod(tight_cg_solve)})
    return cls(resolution, cls.default_dt, RE if cls.reynolds_range else None, 0)


def developed(scene, frames: int) -> State:
    state = scene.initial_state()
    for _ in range(frames):
        state = scene.step(state)
    return state


@pytest.mark.parametrize("name,resolution", SETUPS)
def test_one_step_is_phiflows_discretisation_in_float64(name, resolution):
    """With both solves converged to float64 precision, one native step equals PhiFlow's to round-off."""
    with math.precision(64):
        scene = phiflow_scene(name, resolution, tight=True)
        state = developed(scene, WARMUP[scene_family(name)])
        state = {k: v.with_values(math.to_float(v.values)) for k, v in state.items()}  # compiled steps may return float32
        start = to_frame(state)  # inside the float64 context: outside, phiml may hand out float32 natives
        expected = to_frame(scene.physics_step(state))
    assert all(v.dtype == torch.float64 for v in (*start.values(), *expected.values()))
    step = native_step(name, resolution, scene.dt, dtype=torch.float64, settings=TIGHT)
    assert relative(step(start, torch.tensor([RE], dtype=torch.float64)), expected) < 1e-11


@pytest.mark.parametrize("name,resolution", SETUPS)
def test_float32_steps_and_100_step_rollout_track_phiflow(name, resolution):
    """The scenes as generated (float32, PhiFlow's CG tolerances): a step from PhiFlow's state (warm-started from its
    pressure) within 1e-5 relative of PhiFlow's step, and a 100-step native rollout within 1e-3 of PhiFlow's compiled
    one (whose CG starts from the guess frozen at tracing, so its pressures differ within the tolerance)."""
    scene = phiflow_scene(name, resolution)
    state = developed(scene, WARMUP[scene_family(name)])
    step, reynolds = native_step(name, resolution, scene.dt, settings=PressureSolve()), torch.tensor([RE])  # CG as PhiFlow
    rollout, worst_step = to_frame(state), 0.0
    for frame in range(100):
        if frame % 40 == 0:
            worst_step = max(worst_step, relative(step(to_frame(state), reynolds), to_frame(scene.physics_step(state))))
        rollout, state = step(rollout, reynolds), scene.step(state)
    assert worst_step < 1e-5
    assert relative(rollout, to_frame(state)) < 1e-3


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@CUDA
@pytest.mark.parametrize("name,resolution", SETUPS)
def test_cuda_one_step_is_phiflows_discretisation_in_float64(name, resolution):
    """On CUDA (CG, the solve converged to float64 precision): one native step equals PhiFlow's to round-off."""
    with math.precision(64):
        scene = phiflow_scene(name, resolution, tight=True)
        state = developed(scene, WARMUP[scene_family(name)])
        state = {k: v.with_values(math.to_float(v.values)) for k, v in state.items()}
        start = to_frame(state)
        expected = to_frame(scene.physics_step(state))
    step = native_step(name, resolution, scene.dt, "cuda", dtype=torch.float64, settings=TIGHT)
    stepped = step({k: v.cuda() for k, v in start.items()}, torch.tensor([RE], dtype=torch.float64, device="cuda"))
    assert relative({k: v.cpu() for k, v in stepped.items()}, expected) < 1e-10


@CUDA
@pytest.mark.parametrize("name,resolution", SETUPS)
def test_cuda_float32_steps_and_100_step_rollout_track_phiflow(name, resolution):
    """The native solver as it runs on CUDA by default (float32, CG at PhiFlow's tolerances, convergence tested
    every 10 iterations) against PhiFlow on the CPU: a step within 1e-5 relative, a 100-step rollout within 1e-3,
    the bounds of the CPU test above."""
    scene = phiflow_scene(name, resolution)
    state = developed(scene, WARMUP[scene_family(name)])
    step, reynolds = native_step(name, resolution, scene.dt, "cuda"), torch.tensor([RE], device="cuda")

    def on_gpu(frame: Frame) -> Frame:
        return {k: v.cuda() for k, v in frame.items()}

    def on_cpu(frame: Frame) -> Frame:
        return {k: v.cpu() for k, v in frame.items()}

    rollout, worst_step = on_gpu(to_frame(state)), 0.0
    for frame in range(100):
        if frame % 40 == 0:
            worst_step = max(worst_step, relative(on_cpu(step(on_gpu(to_frame(state)), reynolds)),
                                                  to_frame(scene.physics_step(state))))
        rollout, state = step(rollout, reynolds), scene.step(state)
    assert worst_step < 1e-5
    assert relative(on_cpu(rollout), to_frame(state)) < 1e-3


def test_batched_reynolds_numbers_step_each_sample_as_alone():
    """One batch of two Reynolds numbers gives each sample the step it gets alone (and the viscosity matters)."""
    resolution = Resolution(32, 16)
    state = to_frame(developed(phiflow_scene("karman", resolution), 30))
    step = native_step("karman", resolution, 1.0, dtype=torch.float64, settings=TIGHT)
    state = {k: v.double() for k, v in state.items()}
    both = step({k: torch.cat([v, v]) for k, v in state.items()}, torch.tensor([1e4, 1e6], dtype=torch.float64))
    for i, re in enumerate((1e4, 1e6)):
        alone = step(state, torch.tensor([re], dtype=torch.float64))
        assert relative({k: v[i:i + 1] for k, v in both.items()}, alone) < 1e-12
    assert relative({k: v[:1] for k, v in both.items()}, {k: v[1:] for k, v in both.items()}) > 1e-4


@pytest.mark.parametrize("settings", [TIGHT, FACTORISED], ids=["cg", "factorised"])
def test_pressure_solve_gradient_passes_gradcheck(settings):
    """The implicit backward of the pressure solve (adjoint solve) against torch's numerical Jacobian, float64;
    CG and the factorised solve give the same pressure."""
    operator = KarmanStep(Resolution(8, 4), 1.0, torch.device("cpu"), torch.float64, settings).operator
    rhs = torch.randn(2, 8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * operator.active
    guess = torch.zeros_like(rhs)
    assert torch.autograd.gradcheck(lambda b: solve(operator, b, guess, settings), (rhs.requires_grad_(),))
    assert torch.allclose(solve(operator, rhs, guess, settings), solve(operator, rhs, guess, TIGHT), atol=1e-10)


def unrolled_loss(step, frame: Frame, reynolds: torch.Tensor, weights: Frame, steps: int = 2) -> torch.Tensor:
    for _ in range(steps):
        frame = step(frame, reynolds)
    return sum((frame[k] * weights[k]).sum() for k in weights)


@pytest.mark.parametrize("name", ["karman", "buoyancy"])
def test_unrolled_step_gradient_matches_finite_differences(name):
    """d(loss of two unrolled steps)/d(initial velocity) along a random direction: autograd (through the adjoint
    solve) against central finite differences, float64."""
    resolution = Resolution(16, 8) if name == "karman" else Resolution(16, 16)
    state = to_frame(developed(phiflow_scene(name, resolution), 20))
    state = {k: v.double() for k, v in state.items() if k != "pressure"}
    step = native_step(name, resolution, phiflow_scene(name, resolution).dt, dtype=torch.float64, settings=TIGHT)
    reynolds = torch.tensor([RE], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    weights = {k: torch.randn(v.shape, dtype=v.dtype, generator=generator) for k, v in state.items()}
    direction = {k: torch.randn(state[k].shape, dtype=torch.float64, generator=generator)
                 for k in ("velocity_x", "velocity_y")}
    inputs = {k: v.clone().requires_grad_(k in direction) for k, v in state.items()}
    unrolled_loss(step, inputs, reynolds, weights).backward()
    analytic = sum(float((inputs[k].grad * direction[k]).sum()) for k in direction)
    eps = 1e-6
    shifted = [unrolled_loss(step, {k: v + sign * eps * direction[k] if k in direction else v
                                    for k, v in state.items()}, reynolds, weights) for sign in (1, -1)]
    numeric = float(shifted[0] - shifted[1]) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-6)
