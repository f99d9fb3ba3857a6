"""The scene contract, proved from outside the package: a small scene defined in this file alone (its PhiFlow step
and its native torch step), registered through the public registry functions, runs through generate, downsample,
train sol, evaluate rollout and simulate with no module of the package edited.

The scene, `swirl`: a closed 32 x 32 box whose velocity starts as smooth noise and is advected by itself and diffused
explicitly (no pressure projection), carrying a passive dye blob. Its viscosity follows its Reynolds number, so the
correction network also gets an Re channel; the dye is passive, so the network neither sees it nor is scored on it.
Coarse and fine grids discretise the diffusion and advection differently, which gives SOL something to learn.
"""

import json

import h5py
import numpy as np
import pytest
import torch
from phi.field import CenteredGrid, StaggeredGrid
from phi.geom import Sphere
from phi.math import extrapolation
from phi.physics import advect, diffuse

from conftest import assert_one_line_error, run_cli
from fluidloss_cli.engine.checkpoints import load_checkpoint
from fluidloss_cli.engine.correction import CorrectedSolver
from fluidloss_cli.engine.native import STEPS, advect as native_advect, register_native_step, unregister_native_step
from fluidloss_cli.engine.native.grid import ZERO, ZERO_GRADIENT, Grid, staggered_laplace
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import SCENES, register_scene, scene_class, unregister_scene
from fluidloss_cli.engine.scenes.base import Scene, State

pytestmark = pytest.mark.usefixtures("one_thread")

VISCOSITY_RE = 5.0
"""Viscosity = VISCOSITY_RE / Re (domain units; stable for explicit diffusion at 32 x 32 and dt 1 up to Re 20)."""


class Swirl(Scene):
    """Closed box, self-advected and diffused noise velocity, a passive dye blob."""

    name = "swirl"
    domain_size = (32.0, 32.0)
    default_resolution = "32x32"
    default_dt = 1.0
    default_frames = 6
    default_warmup = 2
    fields = ("velocity", "density")
    passive_fields = ("density",)
    render_quantity = "density"
    reynolds_range = (25.0, 500.0)
    default_reynolds = (50.0, 100.0)
    matrix_pressure = False  # no pressure solve at all

    def set_reynolds(self, reynolds):
        self.viscosity = VISCOSITY_RE / reynolds

    def initial_state(self) -> State:
        velocity = self.noise(StaggeredGrid, 0.5, extrapolation.ZERO, scale=10.0)
        dye = CenteredGrid(Sphere(x=16, y=16, radius=5), extrapolation.ZERO_GRADIENT, **self.grid)
        return {"velocity": velocity, "density": dye}

    def physics_step(self, state: State) -> State:
        velocity = diffuse.explicit(state["velocity"], self.viscosity, self.dt)
        density = advect.semi_lagrangian(state["density"], velocity, self.dt)
        velocity = advect.semi_lagrangian(velocity, velocity, self.dt)
        return {"velocity": velocity, "density": density}

    def masks(self) -> dict[str, np.ndarray]:
        empty = np.zeros(tuple(self.resolution), np.float32)
        return {"obstacle_mask": empty, "inflow_mask": empty.copy()}

    def pressure_solve(self) -> str:
        return "none (compressible test scene)"


class SwirlStep:
    """The same step in plain torch on the dataset's face and cell tensors, batched, with one Re per sample."""

    pressure_solve = "none (native)"

    def __init__(self, resolution, dt, device, dtype, settings=None):
        self.grid = Grid.on(resolution, Swirl.domain_size)
        self.dt = float(dt)
        self.walls_x = torch.ones(resolution.height, resolution.width + 1, device=device, dtype=dtype)
        self.walls_y = torch.ones(resolution.height + 1, resolution.width, device=device, dtype=dtype)
        self.walls_x[:, [0, -1]] = 0
        self.walls_y[[0, -1], :] = 0

    def __call__(self, frame, reynolds):
        vx, vy = frame["velocity_x"], frame["velocity_y"]
        amount = (VISCOSITY_RE / reynolds).to(vx.dtype).view(-1, 1, 1) * self.dt
        lx, ly = staggered_laplace(vx, vy, self.grid, ZERO)
        vx, vy = (vx + amount * lx) * self.walls_x, (vy + amount * ly) * self.walls_y
        density = native_advect.cells_semi_lagrangian(frame["density"], vx, vy, self.grid, self.dt, ZERO_GRADIENT)
        vx, vy = native_advect.velocity(vx, vy, self.grid, self.dt, ZERO)
        return {"velocity_x": vx * self.walls_x, "velocity_y": vy * self.walls_y, "density": density}


@pytest.fixture(scope="module")
def swirl():
    """The scene and its native step registered for this module only."""
    register_scene("swirl", Swirl)
    register_native_step("swirl", SwirlStep)
    yield Swirl
    unregister_native_step("swirl")
    unregister_scene("swirl")
    assert "swirl" not in SCENES and "swirl" not in STEPS


@pytest.fixture(scope="module")
def files(swirl, tmp_path_factory):
    """Fine swirl data by each solver (two Re, the scene's defaults otherwise), the native set downsampled 2x, a SOL
    run on it and its evaluation; every command a real `fluidloss` command line."""
    folder = tmp_path_factory.mktemp("swirl")
    fine, fine_phiflow, coarse, run = (folder / n for n in ("fine.h5", "fine_phiflow.h5", "coarse.h5", "run"))
    run_cli("generate", "swirl", "--re", "50", "100", "--frames", "8", "--out", fine)
    run_cli("generate", "swirl", "--re", "50", "100", "--frames", "8", "--solver", "phiflow", "--out", fine_phiflow)
    run_cli("downsample", fine, "--res", "16x16", "--out", coarse)
    train = run_cli("train", "sol", "--data", coarse, "--out", run, "--unroll", "2", "--epochs", "2",
                    "--batch-size", "4", "--width", "8", "--blocks", "1", "--lr", "1e-2", "--device", "cpu")
    evaluation = folder / "evaluation"
    run_cli("evaluate", "rollout", "--data", coarse, "--sol", run / "best.pt", "--steps", "3",
            "--metrics", "mse,mae,divergence,energy", "--device", "cpu", "--out", evaluation)
    return dict(folder=folder, fine=fine, fine_phiflow=fine_phiflow, coarse=coarse, run=run, train=train.output,
                report=json.loads((evaluation / "evaluation.json").read_text()))


def test_the_contract_derives_what_a_correction_sees(swirl):
    assert scene_class("swirl") is Swirl
    assert Swirl.stored_fields() == ["velocity_x", "velocity_y", "density"]
    assert Swirl.scored_fields() == ["velocity_x", "velocity_y"]  # the dye is passive
    assert Swirl.correction_channels() == (2 + 2 + 1, 2)  # velocity x/y, the two masks, Re
    with pytest.raises(Exception, match="already registered"):
        register_scene("swirl", Swirl)


def test_generate_stores_both_solvers_alike(files):
    with h5py.File(files["fine"]) as native, h5py.File(files["fine_phiflow"]) as phiflow:
        assert native.attrs["scene"] == "swirl" and list(native.attrs["resolution"]) == [32, 32]
        assert native.attrs["warmup"] == Swirl.default_warmup and native.attrs["solver"] == "native"
        assert sorted(native) == ["sim_0000", "sim_0001"]
        sim = native["sim_0000"]
        assert sim["velocity_x"].shape == (8, 32, 33) and sim["velocity_y"].shape == (8, 33, 32)
        assert sim["density"].shape == (8, 32, 32) and sim["obstacle_mask"].shape == (32, 32)
        assert sim.attrs["reynolds"] == 50.0
        assert json.loads(sim.attrs["parameters"])["pressure_solve"] == SwirlStep.pressure_solve
        assert json.loads(phiflow["sim_0000"].attrs["parameters"])["pressure_solve"] == "none (compressible test scene)"
        for name in ("velocity_x", "velocity_y", "density"):
            for group in ("sim_0000", "sim_0001"):
                np.testing.assert_allclose(native[group][name][()], phiflow[group][name][()], atol=1e-4)
        assert np.abs(sim["velocity_x"][-1]).max() > 0.1  # the flow is still moving
        assert not np.allclose(sim["velocity_x"][-1], native["sim_0001"]["velocity_x"][-1])  # Re matters
    with h5py.File(files["coarse"]) as coarse:
        assert list(coarse.attrs["resolution"]) == [16, 16] and coarse["sim_0000"]["velocity_x"].shape == (8, 16, 17)


def test_sol_trains_on_the_scene(files):
    assert "sol: swirl 16x16, dt 1, 2 unrolled steps of the native solver" in files["train"]
    checkpoint = load_checkpoint(files["run"] / "best.pt")
    assert checkpoint["task_info"].items() >= {"scene": "swirl", "resolution": [16, 16], "solver": "native"}.items()
    assert checkpoint["model"]["config"]["in_channels"] == 5  # the contract's channels, not the passive dye


def test_the_evaluation_scores_the_sol_rollout_on_the_scored_fields(files):
    report = files["report"]
    rows = report["grids"]["coarse"]["rows"]
    assert list(rows) == ["reference", "coarse", "run"]  # the SOL row is named after its run folder
    assert report["simulations"] == ["sim_0000", "sim_0001"] and report["steps"] == 3
    for row in ("coarse", "run"):
        assert set(rows[row]["metrics"]) == {"mse", "mae", "divergence", "energy"}
        assert np.shape(rows[row]["metrics"]["mse"]["per_simulation"]) == (2, 3)
        assert rows[row]["metrics"]["mse"]["mean"] > 0
    assert rows["run"]["metrics"]["mse"]["per_simulation"] != rows["coarse"]["metrics"]["mse"]["per_simulation"]
    # the baseline row, recomputed: the plain coarse solver from the start frame, scored on velocity alone
    start = report["starts"][0]
    with h5py.File(files["coarse"]) as handle:
        sim = handle["sim_0000"]
        first = {name: torch.from_numpy(sim[name][start:start + 1]) for name in Swirl.stored_fields()}
        later = {name: sim[name][start + 1:start + 4] for name in Swirl.stored_fields()}
    solver = CorrectedSolver("swirl", Resolution(16, 16), 1.0, torch.device("cpu"))
    frames = solver.rollout(first, torch.tensor([50.0]), 3)
    expected = [sum(float(np.mean((frame[n][0].double().numpy() - later[n][k]) ** 2)) for n in Swirl.scored_fields())
                for k, frame in enumerate(frames)]
    np.testing.assert_allclose(rows["coarse"]["metrics"]["mse"]["per_simulation"][0], expected, rtol=1e-4)


def test_simulate_rolls_the_scene_out_with_and_without_the_correction(files):
    folder, coarse = files["folder"], files["coarse"]
    common = ("--from", coarse, "--frame", "1", "--steps", "3", "--device", "cpu")
    run_cli("simulate", "swirl", *common, "--out", folder / "plain.h5")
    run_cli("simulate", "swirl", *common, "--sol", files["run"] / "best.pt", "--quantity", Swirl.render_quantity,
            "--render", folder / "frames", "--out", folder / "sol.h5")
    run_cli("simulate", "swirl", "--res", "16x16", "--re", "80", "--steps", "2", "--out", folder / "fresh.h5")
    with h5py.File(folder / "plain.h5") as plain, h5py.File(folder / "sol.h5") as sol, h5py.File(coarse) as data:
        assert plain["sim_0000"]["velocity_x"].shape == sol["sim_0000"]["velocity_x"].shape == (4, 16, 17)
        np.testing.assert_array_equal(plain["sim_0000"]["velocity_x"][0], data["sim_0000"]["velocity_x"][1])
        assert not np.allclose(plain["sim_0000"]["velocity_x"][1:], sol["sim_0000"]["velocity_x"][1:])
        np.testing.assert_array_equal(sol["sim_0000"]["density"][0], data["sim_0000"]["density"][1])
        assert json.loads(sol.attrs["provenance"])["rollout"]["solver"] == "native"
    assert len(list((folder / "frames").glob("frame_*.png"))) == 4
    with h5py.File(folder / "fresh.h5") as fresh:
        assert fresh.attrs["scene"] == "swirl" and fresh["sim_0000"]["density"].shape == (3, 16, 16)


class PlainSwirl(Swirl):
    """The swirl without a native step."""

    name = "plainswirl"


def test_a_scene_without_a_native_step_is_refused_by_the_native_solver_before_any_output(tmp_path):
    register_scene("plainswirl", PlainSwirl)
    try:
        out = tmp_path / "s.h5"
        result = run_cli("generate", "plainswirl", "--res", "16x16", "--frames", "3", "--out", out, ok=False)
        assert_one_line_error(result, "no native solver for scene 'plainswirl'", "use --solver phiflow")
        assert list(tmp_path.iterdir()) == []  # no OUT.h5.parts/ to clear before the rerun
        run_cli("generate", "plainswirl", "--res", "16x16", "--frames", "3", "--solver", "phiflow", "--out", out)
        assert out.is_file()
    finally:
        unregister_scene("plainswirl")
