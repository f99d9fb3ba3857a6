"""`fluidloss benchmark`: interleaved timings of fine, coarse, coarse+SOL and coarse+SOL+SR, scored against the fine."""

import json

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

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


def test_bf16_networks_leave_the_solver_alone_and_stay_close_to_float32(karman_files, trained, tmp_path):
    """`--amp bf16`: the networks under bf16 autocast, the solver in float32: the rows without a network are the
    float32 run's exactly, the learned rows within a few percent of them, and the JSON says which precision ran."""
    fine, _ = karman_files
    sol, sr = trained
    reports = {}
    for amp in ("off", "bf16"):
        out = tmp_path / f"bench_{amp}.json"
        result = run_cli("benchmark", "--data", fine, "--sim", "sim_0001", "--frame", "30", "--steps", "3",
                         "--repeats", "1", "--sol", sol, "--sr", sr, "--metrics", "mse", "--device", "cpu",
                         "--amp", amp, "--out", out)
        reports[amp] = json.loads(out.read_text())
        assert reports[amp]["amp"] == amp and ("networks in bf16" in result.output) == (amp == "bf16")
    errors = {amp: {v["name"]: v["errors"]["mse"] for v in report["variants"]} for amp, report in reports.items()}
    for name in ("fine", "coarse"):
        assert errors["bf16"][name] == errors["off"][name]
    for name in ("coarse+SOL", "coarse+SOL+SR"):
        assert errors["bf16"][name] == pytest.approx(errors["off"][name], rel=0.05)
    assert_one_line_error(run_cli("benchmark", "--data", fine, "--sol", sol, "--amp", "fp16", ok=False),
                          "--amp 'fp16': expected one of off, bf16")


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
    # the coarse dataset given as the fine one: the grid comes from the checkpoint, and the line says so, before any work
    assert_one_line_error(run_cli("benchmark", "--data", coarse, "--steps", "3", "--sol", sol, ok=False),
                          f"{sol} was trained at 64x32, which is not a coarser grid of {coarse} (64x32)")
    assert_one_line_error(run_cli("benchmark", "--data", fine, "--steps", "3", "--res", "48x24", ok=False),
                          "--res 48x24 is not a coarser grid of")


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


def plain_cost_at(error: float, frontier: list[tuple[float, float]], fine_ms: float, ms: float):
    """The test's own equal-accuracy reading of a frontier of (ms, error) points in order of resolution: (status,
    speed-up or bounds). Log-log interpolation on the first segment that reaches `error`."""
    if error > frontier[0][1]:
        return "above the frontier", (None, frontier[0][0] / ms)
    for (c0, e0), (c1, e1) in zip(frontier, frontier[1:]):
        if min(e0, e1) <= error <= max(e0, e1):
            t = (np.log(error) - np.log(e0)) / (np.log(e1) - np.log(e0))
            return "interpolated", float(np.exp(np.log(c0) + t * (np.log(c1) - np.log(c0)))) / ms
    return "below the frontier", (max(c for c, _ in frontier) / ms, fine_ms / ms)


def test_benchmark_places_the_learned_rows_on_the_plain_solvers_frontier(karman_files, trained, weights_env, tmp_path):
    """`--frontier 96x48`: the plain solver between the 64x32 coarse and the 128x64 fine grid, timed and scored like
    the other rows; each learned row's equal-accuracy speed-up by MSE and LSiM, in the JSON report, a table and a
    chart."""
    fine, _ = karman_files
    sol, sr = trained
    out = tmp_path / "bench.json"
    result = run_cli("benchmark", "--data", fine, "--sim", "sim_0001", "--frame", "30", "--steps", "8",
                     "--repeats", "2",
                     "--sol", sol, "--sr", sr, "--metrics", "mse,lsim", "--device", "cpu", "--frontier", "96x48",
                     "--out", out)
    report = json.loads(out.read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert list(variants) == ["fine", "coarse", "plain 96x48", "coarse+SOL", "coarse+SOL+SR"]
    assert report["frontier"]["rows"] == ["coarse", "plain 96x48"]
    assert [variants[n]["resolution"] for n in report["frontier"]["rows"]] == ["64x32", "96x48"]
    assert all(len(variants[n]["seconds_per_run"]) == 2 for n in variants)  # timed like the other rows
    # and the error falls: the finer plain grid is closer to the fine simulation on both metrics (LSiM, which
    # compares 224x224 resizes of the fields, by less: 0.13 against 0.09 here)
    for metric, factor in (("mse", 1.5), ("lsim", 1.2)):
        assert variants["coarse"]["errors"][metric] > factor * variants["plain 96x48"]["errors"][metric] > 0
    fine_ms = variants["fine"]["ms_per_frame"][0]
    placed = report["frontier"]["equal_accuracy"]
    assert {(p["variant"], p["metric"]) for p in placed} == \
        {(v, m) for v in ("coarse+SOL", "coarse+SOL+SR") for m in ("mse", "lsim")}
    for p in placed:
        row = variants[p["variant"]]
        assert p["error"] == row["errors"][p["metric"]] and p["ms_per_frame"] == row["ms_per_frame"][0]
        points = [(variants[n]["ms_per_frame"][0], variants[n]["errors"][p["metric"]])
                  for n in report["frontier"]["rows"]]
        status, expected = plain_cost_at(p["error"], points, fine_ms, p["ms_per_frame"])
        assert p["status"] == status, p
        if status == "interpolated":
            assert p["speed_up"] == pytest.approx(expected, rel=1e-9)
            assert p["plain_ms_per_frame"] == pytest.approx(expected * p["ms_per_frame"], rel=1e-9)
        else:  # no extrapolation: no speed-up, only the bounds the measured rows give
            assert p["speed_up"] is None and p["plain_ms_per_frame"] is None
            assert p["bounds"] == pytest.approx(list(expected), rel=1e-9) if status == "below the frontier" else \
                p["bounds"] == [None, pytest.approx(expected[1], rel=1e-9)]
    assert "equal-accuracy speed-up" in result.output and "plain 96x48" in result.output
    chart = tmp_path / "bench_frontier.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


def test_benchmark_frontier_bad_input(karman_files, trained):
    fine, _ = karman_files
    sol, _ = trained
    cases = [
        (["--frontier", "64x32"], "--frontier 64x32 does not lie between the coarse 64x32 and the fine 128x64"),
        (["--frontier", "96x40"], "does not keep the fine grid's aspect"),
        (["--frontier", "96x48,96x48"], "names a resolution more than once"),
        (["--frontier", "96x48,9x"], "resolution '9x' is malformed"),
        (["--frontier", "96x48", "--metrics", "vorticity"], "name one of them in --metrics"),
    ]
    for args, message in cases:
        result = run_cli("benchmark", "--data", fine, "--frame", "10", "--steps", "2", "--sol", sol, *args,
                         "--device", "cpu", ok=False)
        assert result.exit_code == 2 and "Traceback" not in result.output and message in result.output, result.output
