"""`fluidloss train sol` end to end on real coarse references: the corrected solver beats the plain one."""

import json

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import assert_one_line_error, run_cli
from fluidloss_cli.engine.checkpoints import build_model, load_checkpoint
from fluidloss_cli.engine.correction import RE_SCALE, CorrectedSolver
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.pipeline import Pipeline
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.results import ROLLOUTS_FILE
from fluidloss_cli.engine.training.tasks import TASKS
from fluidloss_cli.engine.training.tasks.sol import UnrolledLoss

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def val_loss(setup, model) -> float:
    """The task's unrolled loss summed over its validation windows."""
    loss = build_loss("mse")
    with torch.no_grad():
        return sum(setup.batch_loss(model, loss, batch).item() for batch in DataLoader(setup.val, batch_size=16))


def no_correction(inputs: torch.Tensor) -> torch.Tensor:
    """The plain coarse solver: a correction of zero."""
    return torch.zeros(inputs.shape[0], 2, *inputs.shape[2:])


@pytest.fixture(scope="module", params=["native", "phiflow"])
def trained(request, karman_files, tmp_path_factory):
    """A SOL run on the Karman reference through each solver: (solver, coarse data, run directory, CLI output)."""
    _, coarse = karman_files
    out = tmp_path_factory.mktemp("sol") / "run"
    result = run_cli("train", "sol", "--data", coarse, "--out", out, "--unroll", "2", "--epochs", "3",
                     "--batch-size", "8", "--val-split", "0.2", "--seed", "3", "--solver", request.param)
    return request.param, coarse, out, result.output


def test_sol_on_karman_beats_the_plain_coarse_solver(trained):
    solver, coarse, out, output = trained
    assert f"sol: karman 64x32, dt 1, 2 unrolled steps of the {solver} solver" in output
    checkpoint = load_checkpoint(out / "best.pt")
    assert checkpoint["task"] == "sol" and checkpoint["loss"] == "mse"
    assert checkpoint["task_info"].items() >= {"scene": "karman", "resolution": [64, 32], "dt": 1.0, "unroll": 2,
                                               "solver": solver}.items()
    assert checkpoint["model"]["config"]["in_channels"] == 5  # velocity x/y, two masks, Re; not the passive marker
    setup = TASKS["sol"](data=coarse, unroll=2, val_split=0.2, seed=3, solver=solver)
    trained_loss, plain = val_loss(setup, build_model(checkpoint)), val_loss(setup, no_correction)
    assert trained_loss < 0.9 * plain, f"SOL {trained_loss:.3g} vs uncorrected {plain:.3g}"


def test_rollouts_use_the_solver_the_checkpoint_was_trained_with(trained, tmp_path):
    """simulate's rollout of a checkpoint steps its recorded solver by default (equal to a direct rollout on that
    solver); asking for the other solver is one line of error."""
    solver, coarse, out, _ = trained
    other = {"native": "phiflow", "phiflow": "native"}[solver]
    pipeline = Pipeline.build("karman", Resolution(64, 32), 1.0, CPU, sol=out / "best.pt")
    assert pipeline.solver.solver == load_checkpoint(out / "best.pt")["task_info"]["solver"] == solver
    run_cli("simulate", "karman", "--from", coarse, "--frame", "10", "--steps", "3", "--sol", out / "best.pt",
            "--device", "cpu", "--out", tmp_path / "r.h5")
    windows = FrameWindows(coarse, window=4)
    first = windows[windows.index.index(("sim_0000", 10))]
    direct = CorrectedSolver("karman", Resolution(64, 32), 1.0, CPU, solver).rollout(
        {n: first[n][:1] for n in windows.fields}, torch.tensor([float(first["reynolds"])], dtype=torch.float64), 3,
        build_model(load_checkpoint(out / "best.pt")).requires_grad_(False))
    with h5py.File(tmp_path / "r.h5") as handle:
        assert json.loads(handle.attrs["provenance"])["rollout"]["solver"] == solver
        stored = handle["sim_0000"]["velocity_x"][1:]
    np.testing.assert_array_equal(stored, torch.cat([f["velocity_x"] for f in direct]).numpy())
    result = run_cli("simulate", "karman", "--from", coarse, "--steps", "1", "--sol", out / "best.pt",
                     "--solver", other, "--out", tmp_path / "x.h5", ok=False)
    assert_one_line_error(result, f"trained with --solver {solver}", f"leave out --solver {other}")
    assert not (tmp_path / "x.h5").exists()


def test_sol_on_buoyancy_uses_density(tmp_path):
    fine, coarse = tmp_path / "b.h5", tmp_path / "b32.h5"
    run_cli("generate", "buoyancy", "--res", "64x64", "--frames", "12", "--out", fine)
    run_cli("downsample", fine, "--res", "32x32", "--out", coarse)
    run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "run", "--unroll", "2", "--epochs", "1",
            "--batch-size", "4", "--val-split", "0.2", "--loss", "mse+0.5*mae")
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    assert checkpoint["task_info"]["fields"] == ["velocity_x", "velocity_y", "density"]
    assert checkpoint["model"]["config"]["in_channels"] == 5  # velocity x/y, density, two masks; no Re
    result = run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "long", "--unroll", "16", ok=False)
    assert result.exit_code == 2 and "--unroll 16 needs 17 frames" in result.output
    result = run_cli("train", "sol", "--data", coarse, "--out", tmp_path / "odd", "--unroll", "3", ok=False)
    assert result.exit_code == 2 and "--unroll 3: expected one of 1, 2, 4, 8, 16" in result.output


def test_bf16_on_the_cpu_trains_the_network_in_bf16_and_beats_the_plain_solver(karman_files, tmp_path):
    """`--amp bf16` on the CPU: the network runs under bf16 autocast (the run differs from float32's), the weights
    stay float32, and the correction still beats the uncorrected solver; solver and loss stay float32."""
    from fluidloss_cli.engine import device

    _, coarse = karman_files
    runs, outputs = {}, {}
    device._warned.clear()  # the warning comes once per process
    for amp in ("off", "bf16"):
        runs[amp] = tmp_path / amp
        outputs[amp] = run_cli("train", "sol", "--data", coarse, "--out", runs[amp], "--unroll", "2", "--epochs", "2",
                               "--batch-size", "8", "--val-split", "0.2", "--seed", "3", "--width", "16", "--blocks", "2",
                               "--amp", amp).output  # a small network: bf16 is emulated (slow) on most CPUs
    emulated = "--amp bf16: this CPU has no native bf16" in outputs["bf16"]
    assert emulated == (not device.cpu_has_bf16()) and "native bf16" not in outputs["off"]
    full, half = (load_checkpoint(runs[a] / "last.pt") for a in ("off", "bf16"))
    assert half["training"]["amp"] == "bf16" and all(v.dtype == torch.float32 for v in half["model"]["state"].values())
    assert any(not torch.equal(full["model"]["state"][k], v) for k, v in half["model"]["state"].items())
    setup = TASKS["sol"](data=coarse, unroll=2, val_split=0.2, seed=3)
    trained_loss, plain = val_loss(setup, build_model(half)), val_loss(setup, no_correction)
    assert trained_loss < 0.9 * plain, f"bf16 SOL {trained_loss:.3g} vs uncorrected {plain:.3g}"
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the loss inside training's autocast is float32, not bf16
        value = setup.batch_loss(build_model(half), build_loss("mse"), next(iter(DataLoader(setup.val, batch_size=4))))
    assert value.dtype == torch.float32


def test_leaky_relu_and_a_constant_learning_rate_train_and_are_recorded(karman_files, tmp_path):
    """`--activation leaky_relu --lr-schedule constant` (the PBDL book's network and Adam): the checkpoint rebuilds a
    LeakyReLU network, every epoch keeps the given rate, and the corrected solver beats the plain one."""
    _, coarse = karman_files
    out = tmp_path / "run"
    run_cli("train", "sol", "--data", coarse, "--out", out, "--unroll", "2", "--epochs", "2", "--batch-size", "8",
            "--val-split", "0.2", "--seed", "3", "--lr", "3e-4", "--activation", "leaky_relu", "--lr-schedule",
            "constant")
    checkpoint = load_checkpoint(out / "best.pt")
    assert checkpoint["model"]["config"]["activation"] == "leaky_relu"
    assert checkpoint["training"]["lr_schedule"] == "constant"
    model = build_model(checkpoint)
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in model.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in records] == [3e-4, 3e-4]
    setup = TASKS["sol"](data=coarse, unroll=2, val_split=0.2, seed=3, activation="leaky_relu")
    assert val_loss(setup, model) < 0.9 * val_loss(setup, no_correction)


def test_normalize_scales_the_network_and_the_loss_by_the_training_data_spread(karman_files, tmp_path):
    """`--normalize` (the PBDL book's normalisation): the scales are the training data's standard deviations (checked
    against numpy in float64), 1 for the masks and the Reynolds numbers' spread for the Re channel; the network
    divides its inputs and multiplies its output by them; the loss compares fields divided by them; the checkpoint
    rebuilds the scaled network, which beats the plain solver and rolls out from the command line."""
    _, coarse = karman_files
    with h5py.File(coarse) as handle:
        sims = [handle[name] for name in sorted(handle) if name.startswith("sim_")]
        stds = [float(np.concatenate([g[f][:].astype(np.float64).ravel() for g in sims]).std())
                for f in ("velocity_x", "velocity_y")]
        re_std = float(np.std([g.attrs["reynolds"] for g in sims]))
    out = tmp_path / "run"
    run_cli("train", "sol", "--data", coarse, "--out", out, "--unroll", "2", "--epochs", "2", "--batch-size", "8",
            "--val-split", "0.2", "--seed", "3", "--lr", "3e-4", "--normalize")
    checkpoint = load_checkpoint(out / "best.pt")
    assert checkpoint["task_options"]["normalize"] is True
    config = checkpoint["model"]["config"]
    assert config["input_scale"][:2] == pytest.approx(stds, rel=1e-6)
    assert config["input_scale"][2:4] == [1.0, 1.0] and config["input_scale"][4] == pytest.approx(re_std / RE_SCALE)
    assert config["output_scale"] == pytest.approx(stds, rel=1e-6) and len(config["input_scale"]) == 5
    model = build_model(checkpoint)
    plain = model_class("sol")(**{k: v for k, v in config.items() if not k.endswith("_scale")})
    plain.load_state_dict(checkpoint["model"]["state"])
    height, width = checkpoint["task_info"]["resolution"]
    x = torch.randn(2, 5, height + 1, width + 1)
    scale_in, scale_out = torch.tensor(config["input_scale"]), torch.tensor(config["output_scale"])
    torch.testing.assert_close(model(x), plain(x / scale_in.view(1, -1, 1, 1)) * scale_out.view(1, -1, 1, 1))

    setup = TASKS["sol"](data=coarse, unroll=2, val_split=0.2, seed=3, normalize=True)
    unscaled = TASKS["sol"](data=coarse, unroll=2, val_split=0.2, seed=3)
    assert setup.batch_loss.field_scales["velocity_x"] == pytest.approx(stds[0], rel=1e-6)
    batch = next(iter(DataLoader(setup.val, batch_size=4)))
    halved = UnrolledLoss("karman", Resolution(*setup.info["resolution"]), setup.info["dt"], 2, field_scales={"velocity_x": 2.0,
                                                                                         "velocity_y": 2.0})
    with torch.no_grad():
        torch.testing.assert_close(halved(no_correction, build_loss("mse"), batch),
                                   unscaled.batch_loss(no_correction, build_loss("mse"), batch) / 4)
    assert val_loss(setup, model) < 0.98 * val_loss(setup, no_correction)  # 5.5% lower after these 2 epochs
    result = run_cli("evaluate", "rollout", "--data", coarse, "--sol", out / "best.pt", "--steps", "3", "--metrics",
                     "mse", "--device", "cpu", "--out", tmp_path / "eval")
    assert result.exit_code == 0 and (tmp_path / "eval" / ROLLOUTS_FILE).is_file()


def test_a_run_from_before_the_added_options_resumes_with_their_defaults(karman_files, tmp_path):
    """A last.pt written before --activation, --lr-schedule, --normalize and --patience existed (none recorded) was
    trained with ReLU, a cosine rate, no normalisation and every epoch: it resumes under the defaults and is refused
    under another value."""
    _, coarse = karman_files
    out = tmp_path / "run"
    args = ["train", "sol", "--data", coarse, "--out", out, "--unroll", "2", "--batch-size", "8", "--val-split", "0.2"]
    run_cli(*args, "--epochs", "1")
    last = torch.load(out / "last.pt", weights_only=False)
    for part in ("task_options", "training"):
        last[part] = {k: v for k, v in last[part].items() if k not in ("activation", "lr_schedule", "normalize", "patience")}
    del last["model"]["config"]["activation"]
    torch.save(last, out / "last.pt")
    assert_one_line_error(run_cli(*args, "--epochs", "1", "--resume", "--lr-schedule", "constant", ok=False),
                          "lr_schedule differ")
    assert_one_line_error(run_cli(*args, "--epochs", "1", "--resume", "--normalize", ok=False), "normalize differ")
    assert_one_line_error(run_cli(*args, "--epochs", "1", "--resume", "--patience", "2", ok=False), "patience differ")
    run_cli(*args, "--epochs", "1", "--resume")
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
