"""The coarse solver of Solver-in-the-Loop: grids <-> face arrays, batched Reynolds numbers, compiled rollouts
(gradients: tests/test_sol_gradients.py)."""

import numpy as np
import pytest
import torch
from torch import nn

from fluidloss_cli.engine.correction import CorrectedSolver, correction_channels
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.phiflow_grids import centered_from_cells, face_tensors, staggered_from_faces
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import scene_class

CPU = torch.device("cpu")


@pytest.mark.parametrize("scene, res, dt, re", [("karman", (32, 16), 1.0, 1e5), ("buoyancy", (32, 32), 0.1, None)])
def test_faces_round_trip_through_a_batched_grid(scene, res, dt, re):
    """Stored faces -> batched PhiFlow grid -> faces is exact, walls included (closed-box walls are zero)."""
    sim = scene_class(scene)(Resolution(*res), dt, re, 0)
    state = sim.initial_state()
    for _ in range(3):
        state = sim.step(state)
    vx, vy = face_tensors(state["velocity"])
    batch_x, batch_y = torch.stack([vx, 2 * vx]), torch.stack([vy, -vy])
    grid = staggered_from_faces(batch_x, batch_y, state["velocity"])
    back_x, back_y = face_tensors(grid)
    assert torch.equal(back_x, batch_x) and torch.equal(back_y, batch_y)
    assert vx.abs().max() > 0.01  # a real flow, not zeros


def test_one_batched_step_equals_separate_simulations(karman_files):
    """Two samples of different Reynolds numbers advanced in one batch match each one stepped by its own scene."""
    _, coarse = karman_files
    windows = FrameWindows(coarse, window=2)
    items = [windows[windows.index.index((sim, 30))] for sim in windows.reynolds]
    solver = CorrectedSolver("karman", Resolution(64, 32), 1.0, CPU, "phiflow")
    frame = {n: torch.stack([item[n][0] for item in items]) for n in solver.fields}
    reynolds = torch.stack([item["reynolds"] for item in items])
    assert reynolds[0] != reynolds[1]
    batched = solver.frame(solver.step(solver.state(frame), reynolds))
    for i, re in enumerate(reynolds.tolist()):  # the scene itself, as `generate` steps it, one Reynolds number
        scene = scene_class("karman")(Resolution(64, 32), 1.0, re, 0)
        start = scene.initial_state()
        start["velocity"] = staggered_from_faces(frame["velocity_x"][i:i + 1], frame["velocity_y"][i:i + 1],
                                                 start["velocity"])
        start["density"] = centered_from_cells(frame["density"][i:i + 1], start["density"])
        alone = face_tensors(scene.physics_step(start)["velocity"])
        for name, values in zip(frame, alone):
            torch.testing.assert_close(batched[name][i], values[0], atol=2e-5, rtol=0)
            assert (batched[name][i] - frame[name][i]).abs().max() > 1e-3  # the step did move the flow


def test_network_input_channels():
    """Karman: velocity x/y, obstacle and inflow masks, Re (not the passive marker); buoyancy: velocity, density and
    masks."""
    assert correction_channels("karman") == (5, 2) and correction_channels("buoyancy") == (5, 2)
    solver = CorrectedSolver("karman", Resolution(32, 16), 1.0, CPU)
    frame = {"velocity_x": torch.zeros(3, 32, 17), "velocity_y": torch.zeros(3, 33, 16),
             "density": torch.zeros(3, 32, 16)}
    inputs = solver.network_input(frame, torch.tensor([1e5, 2e5, 4e5]))
    assert inputs.shape == (3, 5, 33, 17)
    np.testing.assert_allclose(inputs[:, 4, 0, 0].numpy(), [0.1, 0.2, 0.4], rtol=1e-6)
    assert inputs[0, 2].sum() > 0 and inputs[0, 3].sum() > 0  # the cylinder and the marker source are there


@pytest.mark.parametrize("scene, res, dt, re", [("karman", (32, 16), 1.0, [1.23e5, 4.56e5]),
                                                  ("buoyancy", (32, 32), 0.1, [float("nan")])])
def test_compiled_rollout_equals_plain_steps_with_a_real_correction(scene, res, dt, re):
    """`rollout` compiles solver step + correction into one function; it must give the frames of the compiled solver
    step followed by the correction applied outside it, with a correction network that really changes the flow
    (random output layer instead of zeros). (The plain, uncompiled solver differs from the compiled one at the CG
    tolerance, ~1e-4, so it is not the reference here.)"""
    from fluidloss_cli.engine.models.sol_net import SolNet

    torch.manual_seed(0)
    solver = CorrectedSolver(scene, Resolution(*res), dt, CPU, "phiflow")
    model = SolNet(*correction_channels(scene), width=8)
    nn.init.normal_(model.head.weight, std=1e-3)
    model.eval().requires_grad_(False)
    reynolds = torch.tensor(re, dtype=torch.float32)  # as FrameWindows gives it
    start = {n: v[None].expand(len(re), *v.shape).clone() for n, v in solver.frame(solver.template).items()}
    compiled = solver.rollout(start, reynolds, 4, model)
    state, plain = solver.state(start), []
    with torch.no_grad():
        for _ in range(4):
            state = solver.correct(solver.step(state, reynolds, compiled=True), reynolds, model)
            plain.append(solver.frame(state))
    uncorrected = solver.rollout(start, reynolds, 4)
    for fast, slow, bare in zip(compiled, plain, uncorrected):
        for name in fast:
            assert torch.equal(fast[name], slow[name]), name
        assert (fast["velocity_x"] - bare["velocity_x"]).abs().max() > 1e-4  # the correction did act


def test_a_rollout_compiles_its_corrected_step_once():
    """A scene without a Reynolds number gets NaN for it (as `simulate` and `benchmark` pass it), and NaN never equals
    itself: the compiled step must still be found again, not rebuilt and traced anew every step."""
    from fluidloss_cli.engine.models.sol_net import SolNet

    solver = CorrectedSolver("buoyancy", Resolution(32, 32), 0.1, CPU, "phiflow")
    model = SolNet(*correction_channels("buoyancy"), width=4).eval().requires_grad_(False)
    start = {n: v[None] for n, v in solver.frame(solver.template).items()}
    solver.rollout(start, torch.tensor([float("nan")], dtype=torch.float64), 3, model)
    solver.rollout(start, torch.tensor([float("nan")], dtype=torch.float64), 3, model)
    assert len(solver.__dict__["_cache__compiled"]) == 1  # the solver's own cache (engine/memo.py)


def test_compiled_rollout_refuses_a_model_in_training():
    solver = CorrectedSolver("karman", Resolution(32, 16), 1.0, CPU, "phiflow")
    start = {n: v[None] for n, v in solver.frame(solver.template).items()}
    from fluidloss_cli.engine.models.sol_net import SolNet

    with pytest.raises(ValueError, match="frozen model"):
        solver.rollout(start, torch.tensor([1e5]), 1, SolNet(*correction_channels("karman"), width=4))


def test_both_solvers_apply_the_same_correction():
    """The native solver's states are the frames themselves; the network sees the same input and its correction lands
    on the same faces as through PhiFlow's grids, and its step is native_step's."""
    from fluidloss_cli.engine.models.sol_net import SolNet
    from fluidloss_cli.engine.native import native_step

    torch.manual_seed(0)
    model = SolNet(*correction_channels("karman"), width=4)
    nn.init.normal_(model.head.weight, std=1e-2)
    solvers = {kind: CorrectedSolver("karman", Resolution(32, 16), 1.0, CPU, kind) for kind in ("native", "phiflow")}
    frame = {k: torch.randn(2, *shape) for k, shape in (("velocity_x", (32, 17)), ("velocity_y", (33, 16)),
                                                          ("density", (32, 16)))}
    reynolds = torch.tensor([1e5, 3e5])
    corrected = {kind: s.frame(s.correct(s.state(frame), reynolds, model)) for kind, s in solvers.items()}
    for name in frame:
        assert torch.equal(corrected["native"][name], corrected["phiflow"][name]), name
    assert not torch.equal(corrected["native"]["velocity_x"], frame["velocity_x"])
    stepped = solvers["native"].step(solvers["native"].state(frame), reynolds)
    direct = native_step("karman", Resolution(32, 16), 1.0)(frame, reynolds)
    assert all(torch.equal(stepped[k], direct[k]) for k in direct)
