"""`fluidloss evaluate rollout|pair` end to end on real data and checkpoints made by the CLI: the report's files, the
baseline rows against an independent computation, missing weights as marked columns, pairs against `lsim_distance`,
and one clear line for every kind of bad input."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli
from PIL import Image
from weight_fixtures import shared_file

from fluidloss_cli.engine.losses import lsim_distance
from fluidloss_cli.engine.correction import CorrectedSolver
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.upsample import upsample_frame

STARTS, STEPS = (0, 2), 4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 64x32 (Re 1e5, 2e5; 8 frames), its 32x16 and 16x8 downsamplings; two SOL runs (mse, mae) and a 2x SR
    run on 16x8, one epoch each; a 16x16 buoyancy set."""
    folder = tmp_path_factory.mktemp("evaluate")
    d = SimpleNamespace(k64=folder / "k64.h5", k32=folder / "k32.h5", k16=folder / "k16.h5", b16=folder / "b16.h5")
    run_cli("generate", "karman", "--res", "64x32", "--re", "1e5", "2e5", "--warmup", "0", "--frames", "8", "--out", d.k64)
    run_cli("downsample", d.k64, "--res", "32x16", "--out", d.k32)
    run_cli("downsample", d.k64, "--res", "16x8", "--out", d.k16)
    run_cli("generate", "buoyancy", "--res", "16x16", "--frames", "3", "--out", d.b16)
    small = ["--epochs", "1", "--batch-size", "4", "--width", "8", "--blocks", "1", "--device", "cpu"]
    for loss in ("mse", "mae"):
        run_cli("train", "sol", "--data", d.k16, "--unroll", "1", "--loss", loss, "--out", folder / f"sol_{loss}",
                *small)
    run_cli("train", "sr", "--coarse", d.k16, "--fine", d.k32, "--out", folder / "sr2", *small)
    d.sol_mse, d.sol_mae, d.sr = (folder / name / "best.pt" for name in ("sol_mse", "sol_mae", "sr2"))
    return d


@pytest.fixture(scope="module")
def lsim_only(tmp_path_factory):
    """Weight lookup that finds the official LSiM.pth and nothing else (no ImageNet backbones), for the module."""
    folder = tmp_path_factory.mktemp("weights")
    with pytest.MonkeyPatch.context() as patch:
        for var in ("FLUIDLOSS_WEIGHTS_DIR", "XDG_CACHE_HOME", "TORCH_HOME"):
            (folder / var).mkdir()
            patch.setenv(var, str(folder / var))
        (folder / "FLUIDLOSS_WEIGHTS_DIR" / "LSiM.pth").symlink_to(shared_file("weights", "LSiM.pth"))
        yield


@pytest.fixture(scope="module")
def evaluated(data, lsim_only, tmp_path_factory) -> SimpleNamespace:
    """One full evaluation: both SOL runs and the SR run, every default metric, two start frames."""
    out = tmp_path_factory.mktemp("report") / "eval"
    result = run_cli("evaluate", "rollout", "--data", data.k16, "--sol", data.sol_mse, "--sol", data.sol_mae,
                     "--fine", data.k32, "--sr", data.sr, "--start", STARTS[0], "--start", STARTS[1],
                     "--steps", STEPS, "--device", "cpu", "--out", out)
    return SimpleNamespace(out=out, output=result.output, report=json.loads((out / "evaluation.json").read_text()))


def reference(path: Path, sim: str, frames: slice,
              fields: tuple[str, ...] = ("velocity_x", "velocity_y", "density")) -> dict[str, np.ndarray]:
    """Velocity (and density, karman's marker) frames of one simulation, straight from the file."""
    with h5py.File(path) as handle:
        return {name: handle[sim][name][frames] for name in fields if name in handle[sim]}


def mse(pred: dict, ref: dict, index: int = 0) -> float:
    """The study's MSE of a frame, with numpy: mean(dvx^2) + mean(dvy^2) (+ mean(ddensity^2)) of pred[0] and
    ref[index], over the fields of `ref`."""
    return sum(float(np.mean((np.asarray(pred[n][0], np.float64) - ref[n][index]) ** 2)) for n in ref)


def test_report_holds_every_row_metric_and_step(evaluated):
    report = evaluated.report
    assert report["starts"] == list(STARTS) and report["steps"] == STEPS
    assert report["simulations"] == ["sim_0000", "sim_0001"]
    assert list(report["grids"]["coarse"]["rows"]) == ["reference", "coarse", "sol_mse", "sol_mae"]
    assert list(report["grids"]["fine"]["rows"]) == ["reference", "coarse+bicubic", "coarse+sr2", "sol_mse+bicubic",
                                                     "sol_mse+sr2", "sol_mae+bicubic", "sol_mae+sr2"]
    assert list(report["metrics"]) == ["mse", "mae", "lsim", "lpips", "vgg", "divergence", "energy", "spectrum",
                                       "vorticity"]
    assert list(report["checkpoints"]["sol"]) == ["sol_mse", "sol_mae"] and list(report["checkpoints"]["sr"]) == ["sr2"]
    for grid in report["grids"].values():
        for row, content in grid["rows"].items():
            expected = {"divergence", "energy"} if row == "reference" else {"mse", "mae", "lsim", "divergence",
                                                                             "energy", "spectrum", "vorticity"}
            assert set(content["metrics"]) == expected
            for stats in content["metrics"].values():
                assert np.shape(stats["per_simulation"]) == (2, STEPS) and len(stats["step_mean"]) == STEPS
                values = np.array(stats["per_simulation"])
                assert stats["mean"] == pytest.approx(values.mean())
                assert stats["final_mean"] == pytest.approx(values[:, -1].mean())
                assert stats["std"] == pytest.approx(values.mean(axis=1).std(ddof=1))
            assert len(content["spectrum"]) == len(grid["wavenumbers"])
    coarse = report["grids"]["coarse"]["rows"]
    assert coarse["reference"]["metrics"]["divergence"]["mean"] < 1e-4  # away from the cylinder: incompressible
    baseline = coarse["coarse"]["metrics"]
    assert 0.5 < baseline["vorticity"]["mean"] <= 1 and baseline["mse"]["mean"] > 0


def test_baseline_rows_equal_an_independent_rollout_error(data, evaluated):
    """The uncorrected coarse solver, run here on sim_0000 alone, and numpy's MSE against the stored frames."""
    solver = CorrectedSolver("karman", Resolution(16, 8), 1.0, torch.device("cpu"))
    coarse_errors, bicubic_errors = [], []
    for start in STARTS:
        first = reference(data.k16, "sim_0000", slice(start, start + 1))
        frames = solver.rollout({n: torch.from_numpy(v) for n, v in first.items()}, torch.tensor([1e5]), STEPS)
        later = slice(start + 1, start + STEPS + 1)
        # Karman's marker is passive: the rollout rows are scored on velocity alone, as Um et al. score them
        velocity = ("velocity_x", "velocity_y")
        coarse_ref, fine_ref = (reference(path, "sim_0000", later, velocity) for path in (data.k16, data.k32))
        coarse_errors.append([mse(f, coarse_ref, i) for i, f in enumerate(frames)])
        bicubic_errors.append([mse(upsample_frame(f, 2), fine_ref, i) for i, f in enumerate(frames)])
    grids = evaluated.report["grids"]
    reported = grids["coarse"]["rows"]["coarse"]["metrics"]["mse"]["per_simulation"][0]
    np.testing.assert_allclose(reported, np.mean(coarse_errors, axis=0), rtol=1e-3)
    reported = grids["fine"]["rows"]["coarse+bicubic"]["metrics"]["mse"]["per_simulation"][0]
    np.testing.assert_allclose(reported, np.mean(bicubic_errors, axis=0), rtol=1e-3)
    # the reference row's kinetic energy, from the stored faces averaged to cell centres
    ref = reference(data.k16, "sim_0000", slice(None))
    vx, vy = ref["velocity_x"].astype(np.float64), ref["velocity_y"].astype(np.float64)
    u, v = (vx[:, :, 1:] + vx[:, :, :-1]) / 2, (vy[:, 1:] + vy[:, :-1]) / 2
    energy = 0.5 * (u**2 + v**2).mean(axis=(1, 2))
    expected = np.mean([energy[s + 1:s + STEPS + 1] for s in STARTS], axis=0)
    np.testing.assert_allclose(grids["coarse"]["rows"]["reference"]["metrics"]["energy"]["per_simulation"][0], expected,
                               rtol=1e-6)


def test_lsim_is_announced_before_the_rollouts_with_the_metrics_that_leave_it_out(data, evaluated, tmp_path):
    text = " ".join(evaluated.output.split())  # rich's wrapping undone
    notice = ("lsim in --metrics: every field resized to 224x224 and passed through LSiM's CNN, the slow part of this "
              "evaluation; leave it out with --metrics mse,mae,lpips,vgg,divergence,energy,spectrum,vorticity")
    assert notice in text  # lpips is not announced: its weights are missing here, so it costs nothing
    assert text.count("in --metrics:") == 1 and text.index(notice) < text.index("wrote ")
    cheap = run_cli("evaluate", "rollout", "--data", data.k16, "--sol", data.sol_mse, "--start", "0", "--steps", "2",
                    "--metrics", "mse,divergence", "--device", "cpu", "--out", tmp_path / "cheap")
    assert "in --metrics:" not in cheap.output


def test_missing_weights_are_marked_columns_with_their_reason(evaluated):
    metrics = evaluated.report["metrics"]
    assert "vgg16-397923af.pth not found" in metrics["vgg"]["missing"]
    assert "alexnet-owt-7be5be79.pth not found" in metrics["lpips"]["missing"]
    assert metrics["lsim"]["missing"] is None and metrics["mse"]["missing"] is None
    text = " ".join(evaluated.output.split())
    assert "vgg missing: VGG-16 (ImageNet) weights vgg16-397923af.pth not found" in text
    assert "lpips missing: AlexNet" in text and "Traceback" not in evaluated.output
    lines = list(csv.DictReader((evaluated.out / "summary.csv").open()))
    vgg = [line for line in lines if line["metric"] == "vgg"]
    assert len(vgg) == 3 + 6 and all(line["missing"].startswith("VGG-16") and line["mean"] == "" for line in vgg)


def test_csv_plots_and_table(evaluated):
    lines = list(csv.DictReader((evaluated.out / "summary.csv").open()))
    baseline = next(line for line in lines if (line["grid"], line["row"], line["metric"]) == ("coarse", "coarse",
                                                                                               "mse"))
    stats = evaluated.report["grids"]["coarse"]["rows"]["coarse"]["metrics"]["mse"]
    assert float(baseline["mean"]) == pytest.approx(stats["mean"]) and baseline["simulations"] == "2"
    steps = list(csv.DictReader((evaluated.out / "steps.csv").open()))
    lsim = [line for line in steps if (line["grid"], line["row"], line["metric"]) == ("fine", "sol_mse+sr2", "lsim")]
    assert [int(line["step"]) for line in lsim] == list(range(1, STEPS + 1))
    for name in ("errors_coarse", "spectra_coarse", "errors_fine", "spectra_fine"):
        image = np.array(Image.open(evaluated.out / f"{name}.png"))
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0
    assert not list(evaluated.out.glob("*.tmp"))
    output = evaluated.output
    assert "coarse grid (karman 16x8): mean ± std over 2 test simulation(s), averaged over the rollout steps" in output
    assert "sol_mae+sr2" in output and f"{stats['mean']:.4g}" in output and "missing" in output


def test_a_metric_with_weights_is_computed(data, backbones_env, tmp_path):
    """With (random-weight) ImageNet backbones installed, lpips is a column like any other."""
    run_cli("evaluate", "rollout", "--data", data.k16, "--steps", "1", "--metrics", "lpips,mse", "--device", "cpu",
            "--summary", "final", "--out", tmp_path)
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["metrics"]["lpips"]["missing"] is None
    assert report["grids"]["coarse"]["rows"]["coarse"]["metrics"]["lpips"]["final_mean"] > 0
    assert list(report["grids"]) == ["coarse"] and not (tmp_path / "errors_fine.png").exists()


def empty_dataset(source: Path, path: Path) -> Path:
    """A dataset file with the attributes of `source` and no simulations."""
    with h5py.File(source) as src, h5py.File(path, "w") as dst:
        dst.attrs.update(src.attrs)
    return path


@pytest.mark.parametrize("args, fragments", [
    (["--data", "{k32}", "--sol", "{sol_mse}"], ["sol_mse/best.pt corrects karman at 16x8", "not karman at 32x16"]),
    (["--data", "{b16}", "--sol", "{sol_mse}"], ["corrects karman at 16x8", "not buoyancy at 16x16"]),
    (["--data", "{k16}", "--fine", "{k64}", "--sr", "{sr}"], ["sr2/best.pt upsamples by 2", "is 4x finer"]),
    (["--data", "{k32}", "--fine", "{k64}", "--sr", "{sr}"], ["upsamples karman at 16x8", "not karman at 32x16"]),
    (["--data", "{k16}", "--sr", "{sr}"], ["--sr needs --fine"]),
    (["--data", "{k16}", "--sol", "{sr}"], ["is a 'sr' checkpoint, expected a 'sol' one"]),
    (["--data", "{k16}", "--steps", "8"], ["--start 0 + --steps 8 needs 9 frames per simulation, it has 8"]),
    (["--data", "{k16}", "--start", "5", "--steps", "3"], ["--start 5 + --steps 3 needs 9 frames"]),
    (["--data", "{k16}", "--start", "7"], ["--start must be frame indices from 0 to 6", "got 7"]),
    (["--data", "{empty}"], ["empty.h5: holds no simulations"]),
    (["--data", "{k16}", "--metrics", "mse,ssim"], ["metric 'ssim': not a physical measure", "unknown loss 'ssim'"]),
    (["--data", "{k16}", "--summary", "median"], ["--summary must be one of mean, final"]),
    (["--data", "{k16}", "--sol", "missing.pt"], ["missing.pt: no such checkpoint"]),
])
def test_bad_rollout_input_is_one_clear_line(data, tmp_path, args, fragments):
    paths = {**vars(data), "empty": empty_dataset(data.k16, tmp_path / "empty.h5")}
    args = [str(arg).format(**paths) for arg in args]
    metrics = [] if "--metrics" in args else ["--metrics", "mse"]
    result = run_cli("evaluate", "rollout", *args, *metrics, "--device", "cpu", "--out", tmp_path / "out", ok=False)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out").exists()


def test_an_earlier_evaluation_is_replaced_only_when_asked(data, tmp_path):
    args = ["evaluate", "rollout", "--data", data.k16, "--steps", "1", "--metrics", "mse", "--out", tmp_path]
    run_cli(*args)
    assert_one_line_error(run_cli(*args, ok=False), "already holds an evaluation", "--overwrite")
    run_cli(*args, "--overwrite")


def pair(*args: str, ok: bool = True):
    """`fluidloss evaluate pair ARGS`."""
    return run_cli("evaluate", "pair", *args, "--device", "cpu", ok=ok)


def values(result) -> dict[str, list[float]]:
    """The printed `NAME VALUE` or `NAME A VALUE B VALUE` lines."""
    return {line.split()[0]: [float(v) for v in line.split()[1:] if v not in ("A", "B")]
            for line in result.output.strip().splitlines()}


def test_pair_of_images_is_lsim_distance(weights_env, tmp_path):
    a, b = (shared_file("reference", "lsim", f"{name}.png") for name in ("plumeReference", "plumeA"))
    assert values(pair(str(a), str(a))) == {"lsim": [0.0]}
    distance = values(pair(str(a), str(b)))["lsim"][0]
    rgb = [np.array(Image.open(p))[..., :3] for p in (a, b)]
    assert distance == pytest.approx(lsim_distance(*rgb), rel=1e-7) and distance == pytest.approx(0.3791, abs=1e-3)
    generator = np.random.default_rng(0)
    arrays = [generator.normal(size=(40, 30)), generator.normal(size=(40, 30))]
    for name, array in zip("ab", arrays):
        np.save(tmp_path / f"{name}.npy", array)
    result = values(pair(str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--metric", "lsim,mse"))
    assert result["lsim"][0] == pytest.approx(lsim_distance(arrays[0][..., None], arrays[1][..., None]), rel=1e-7)
    assert result["mse"][0] == pytest.approx(np.mean((arrays[0] - arrays[1]) ** 2), rel=1e-6)


def test_pair_of_dataset_frames_compares_fields_as_rollout_does(data, lsim_only):
    a, b = f"{data.k16}:sim_0000:3", f"{data.k16}:1:3"
    result = values(pair(a, b, "--metric", "mse,lsim,energy"))
    stored = [reference(data.k16, sim, slice(3, 4)) for sim in ("sim_0000", "sim_0001")]
    assert result["mse"][0] == pytest.approx(mse(stored[1], stored[0]), rel=1e-5)
    assert result["lsim"][0] > 0 and len(result["energy"]) == 2 and result["energy"][0] != result["energy"][1]
    assert values(pair(a, a, "--metric", "lsim,mse,vorticity")) == {"lsim": [0.0], "mse": [0.0], "vorticity": [1.0]}


@pytest.mark.parametrize("a, b, extra, fragments", [
    ("{k16}:sim_0000:3", "{k32}:sim_0000:3", [], ["the frames differ in fields or resolution"]),
    ("{k16}:sim_0000:3", "{npy}", [], ["compare like with like"]),
    ("{k16}:sim_0000:30", "{k16}:sim_0000:3", [], ["sim_0000 has 8 frames, no frame 30"]),
    ("{k16}:sim_0009:3", "{k16}:sim_0000:3", [], ["no simulation(s) sim_0009"]),
    ("{npy}", "{npy}", ["--metric", "vorticity"], ["vorticity need velocity"]),
    ("{npy}", "{small}", [], ["the inputs differ in shape: [40, 30, 1] vs [8, 8, 1]"]),
    ("notes.txt", "{npy}", [], ["'notes.txt': expected FILE.h5:SIM:FRAME"]),
    ("{npy}", "{npy}", ["--metric", "vgg"], ["metric vgg: VGG-16 (ImageNet) weights vgg16-397923af.pth not found"]),
    ("{npy}", "{bad}", [], ["bad.npy: not a readable .npy file"]),
])
def test_bad_pair_input_is_one_clear_line(data, lsim_only, tmp_path, a, b, extra, fragments):
    np.save(tmp_path / "a.npy", np.zeros((40, 30)))
    np.save(tmp_path / "small.npy", np.zeros((8, 8)))
    (tmp_path / "bad.npy").write_text("not an array")
    paths = {**vars(data), "npy": tmp_path / "a.npy", "small": tmp_path / "small.npy", "bad": tmp_path / "bad.npy"}
    assert_one_line_error(pair(a.format(**paths), b.format(**paths), *extra, ok=False), *fragments)


def test_bf16_networks_leave_the_baselines_alone_and_stay_close_to_float32(data, evaluated, lsim_only, tmp_path):
    """`evaluate rollout --amp bf16`: the SOL and SR networks in bf16, the solver and the metrics in float32: the
    rows without a network equal the float32 evaluation's, the learned rows lie within a few percent of them."""
    out = tmp_path / "bf16"
    run_cli("evaluate", "rollout", "--data", data.k16, "--sol", data.sol_mse, "--sol", data.sol_mae, "--fine",
            data.k32, "--sr", data.sr, "--start", STARTS[0], "--start", STARTS[1], "--steps", STEPS, "--device",
            "cpu", "--amp", "bf16", "--out", out)
    bf16, fp32 = json.loads((out / "evaluation.json").read_text()), evaluated.report
    assert (bf16["amp"], fp32["amp"]) == ("bf16", "off")
    for grid, content in fp32["grids"].items():
        for row in (r for r in content["rows"] if r != "reference"):  # the reference has absolute measures only
            for metric in ("mse", "lsim"):
                ours, theirs = (r["grids"][grid]["rows"][row]["metrics"][metric]["mean"] for r in (bf16, fp32))
                if row in ("coarse", "coarse+bicubic"):
                    assert ours == theirs, (grid, row, metric)
                else:
                    assert ours == pytest.approx(theirs, rel=0.05), (grid, row, metric)
