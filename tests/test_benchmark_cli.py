"""`fluidloss benchmark`: interleaved timings of fine, coarse, coarse+SOL and coarse+SOL+SR, scored against the fine."""

import json

import pytest
from conftest import run_cli
from weight_fixtures import weights_env  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(karman_files, tmp_path_factory):
    """A one-epoch SOL model on the 64x32 reference and a one-epoch 2x SR model: real checkpoints, quickly made."""
    fine, coarse = karman_files
    folder = tmp_path_factory.mktemp("bench_runs")
    run_cli("train", "sol", "--data", coarse, "--out", folder / "sol", "--unroll", "1", "--epochs", "1",
            "--batch-size", "16", "--val-split", "0.5")
    run_cli("train", "sr", "--coarse", coarse, "--fine", fine, "--out", folder / "sr", "--epochs", "1",
            "--batch-size", "16", "--val-split", "0.5", "--width", "8", "--blocks", "1")
    return folder / "sol" / "best.pt", folder / "sr" / "best.pt"


def test_benchmark_times_and_scores_every_variant(karman_files, trained, weights_env, tmp_path):
    fine, _ = karman_files
    sol, sr = trained
    out = tmp_path / "bench.json"
    result = run_cli("benchmark", "--data", fine, "--sim", "sim_0001", "--frame", "30", "--steps", "3",
                     "--repeats", "2", "--sol", sol, "--sr", sr, "--metrics", "mse,lsim,vgg,divergence,vorticity",
                     "--device", "cpu",
                     "--out", out)
    report = json.loads(out.read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert list(variants) == ["fine", "coarse", "coarse+SOL", "coarse+SOL+SR"]
    for variant in variants.values():
        assert len(variant["seconds_per_run"]) == 2 and all(s > 0 for s in variant["seconds_per_run"])
        assert "missing" in variant["errors"]["vgg"]  # no ImageNet weights in this environment
    # the fine rollout recomputes the stored fine simulation: no error; every coarse variant has some
    assert variants["fine"]["errors"]["mse"] < 1e-8 and variants["fine"]["errors"]["lsim"] < 1e-3
    for name in ("coarse", "coarse+SOL", "coarse+SOL+SR"):
        assert variants[name]["errors"]["mse"] > 1e-6 and variants[name]["errors"]["lsim"] > 1e-3
    # evaluate's physical measures: the fine rollout's vorticity is the reference's, and SOL keeps the flow
    # divergence-free about as well as the fine solver does
    assert variants["fine"]["errors"]["vorticity"] > 0.9999
    assert variants["coarse+SOL+SR"]["errors"]["divergence"] < 10 * variants["coarse"]["errors"]["divergence"] + 1e-3
    assert "coarse+SOL" in result.output and "vgg column missing" in result.output


def test_benchmark_bad_input(karman_files, trained, tmp_path):
    fine, coarse = karman_files
    sol, sr = trained
    cases = [
        (["--frame", "48", "--steps", "5", "--sol", sol], "has no 5 frames after frame 48"),
        (["--coarse-res", "32x16", "--sr", sr], "upsamples karman at 64x32"),
        (["--coarse-res", "32x16", "--sol", sol], "corrects karman at 64x32"),
        (["--sol", sr], "is a 'sr' checkpoint, expected a 'sol' one"),
        ([], "give --res HxW (the coarse grid) or a --sol checkpoint"),
        (["--sim", "sim_0009", "--sol", sol], "no simulation(s) sim_0009"),
        (["--sol", sol, "--metrics", "mse,lsimm"], "metric 'lsimm': not a physical measure"),
    ]
    for args, message in cases:
        result = run_cli("benchmark", "--data", fine, "--frame", "10", "--steps", "3", *args, "--device", "cpu", ok=False)
        assert result.exit_code == 2 and message in result.output, result.output


def test_benchmark_times_a_correction_on_either_solver(karman_files, trained, tmp_path):
    """Every rollout, the fine one included, steps --solver; a SOL model trained on the other solver is timed there
    with a one-line warning (rollouts elsewhere refuse it), and the report records the solver."""
    fine, _ = karman_files
    sol, _ = trained
    reports = {}
    for solver in ("native", "phiflow"):
        out = tmp_path / f"{solver}.json"
        result = run_cli("benchmark", "--data", fine, "--frame", "30", "--steps", "2", "--repeats", "1", "--sol", sol,
                         "--metrics", "mse", "--solver", solver, "--device", "cpu", "--out", out)
        reports[solver] = json.loads(out.read_text())
        assert reports[solver]["solver"] == solver and f"on the {solver} solver" in result.output
        assert ("warning:" in result.output) == (solver == "phiflow")  # the model was trained on the native one
    errors = {solver: {v["name"]: v["errors"]["mse"] for v in report["variants"]} for solver, report in reports.items()}
    for name in ("coarse", "coarse+SOL"):  # the same physics: close, but stepped by different code
        assert errors["native"][name] == pytest.approx(errors["phiflow"][name], rel=1e-2)
