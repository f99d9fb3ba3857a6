"""`evaluate rollout` and `evaluate frames` judge several trained models by the decision rule (docs/study.md): each
loss against MSE, models of one seed paired, from what each checkpoint says it was trained with. Checked against the
rule computed independently from the evaluation's own stored values, on the published SOL models and on SR models
trained here."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import run_cli
from scipy import stats

pytestmark = pytest.mark.usefixtures("one_thread")

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "study_pbdl_padded" / "checkpoints"
SOL = [PUBLISHED / f"sol_{loss}_seed{seed}.pt" for loss in ("mse", "lsim") for seed in (0, 1, 2)]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 128x64 (two new Re, 6 frames, no warm-up) and its 64x32 and 32x16 downsamplings; 2x SR models trained
    here with mse and mae on seeds 0 and 1 (one epoch each)."""
    folder = tmp_path_factory.mktemp("verdicts")
    d = SimpleNamespace(folder=folder, fine=folder / "k128.h5", k64=folder / "k64.h5", k32=folder / "k32.h5")
    run_cli("generate", "karman", "--res", "128x64", "--re", "2.4e5", "9.6e5", "--seed", "7", "--warmup", "0",
            "--frames", "6", "--out", d.fine)
    run_cli("downsample", d.fine, "--res", "64x32", "--out", d.k64)
    run_cli("downsample", d.fine, "--res", "32x16", "--out", d.k32)
    d.sr = {}
    for loss in ("mse", "mae"):
        for seed in (0, 1):
            out = folder / f"sr_{loss}_{seed}"
            run_cli("train", "sr", "--coarse", d.k32, "--fine", d.k64, "--loss", loss, "--seed", seed, "--epochs", "1",
                    "--batch-size", "4", "--width", "8", "--blocks", "1", "--device", "cpu", "--out", out)
            d.sr[loss, seed] = out / "best.pt"
    return d


def independent(means: dict[tuple[str, int], float], loss: str) -> tuple[float, float]:
    """Geometric-mean ratio loss/MSE and the paired t-test's p on the logarithms, over the seeds both have."""
    seeds = sorted(seed for (name, seed) in means if name == loss)
    a = np.log([means[loss, s] for s in seeds])
    b = np.log([means["mse", s] for s in seeds])
    return math.exp(float(np.mean(a - b))), float(stats.ttest_rel(a, b).pvalue)


def test_rollout_verdicts_of_the_published_models_follow_the_rule(data, tmp_path):
    out = tmp_path / "e"
    result = run_cli("evaluate", "rollout", "--data", data.k64, *[a for p in SOL for a in ("--sol", p)], "--start", "0",
                     "--steps", "3", "--metrics", "mse,mae,energy", "--device", "cpu", "--out", out)
    report = json.loads((out / "evaluation.json").read_text())
    judged = report["against_mse"]["sol"]
    assert judged["models"]["sol_lsim_seed2"] == {"loss": "lsim", "seed": 2}  # read from the checkpoint
    rows = report["grids"]["coarse"]["rows"]
    for metric in ("mse", "mae"):
        means = {(path.stem.split("_")[1], int(path.stem[-1])): float(np.mean(rows[path.stem]["metrics"][metric]
                                                                                ["per_simulation"])) for path in SOL}
        effect, p = independent(means, "lsim")
        verdict = judged["verdicts"][metric]["lsim"]
        assert verdict["effect"] == pytest.approx(effect, rel=1e-9) and verdict["p"] == pytest.approx(p, rel=1e-9)
        assert verdict["paired"] and verdict["seeds"] == 3 and verdict["p_holm"] == pytest.approx(p, rel=1e-9)
        assert verdict["outcome"] == ("not separated" if p >= 0.05 else "worse" if effect > 1 else "better")
    assert "energy" not in judged["verdicts"]  # no better direction: not judged
    assert "sol: each loss against mse by the decision rule" in result.output
    assert f"{judged['verdicts']['mae']['lsim']['outcome']} " in result.output


def test_one_loss_or_a_repeated_model_gets_no_verdicts(data, tmp_path):
    alone = run_cli("evaluate", "rollout", "--data", data.k64, "--sol", SOL[0], "--sol", SOL[1], "--start", "0",
                    "--steps", "2", "--metrics", "mse", "--device", "cpu", "--out", tmp_path / "a")
    assert json.loads((tmp_path / "a" / "evaluation.json").read_text())["against_mse"] == {}
    assert "against mse" not in alone.output
    copy = tmp_path / "copy_of_mse_seed0.pt"
    shutil.copyfile(SOL[0], copy)  # the same file twice is refused; a copy is another model of the same loss and seed
    twice = run_cli("evaluate", "rollout", "--data", data.k64, "--sol", SOL[0], "--sol", copy, "--sol", SOL[3],
                    "--start", "0", "--steps", "2", "--metrics", "mse", "--device", "cpu", "--out", tmp_path / "b")
    assert "sol against mse: two checkpoints share a loss and a seed: no verdicts" in " ".join(twice.output.split())


def test_frame_verdicts_of_sr_models_pair_their_seeds(data, tmp_path):
    out = tmp_path / "f"
    run_cli("evaluate", "frames", "--data", data.k32, "--fine", data.k64,
            *[a for path in data.sr.values() for a in ("--sr", path)], "--metrics", "mse,mae", "--device", "cpu",
            "--out", out)
    report = json.loads((out / "frames.json").read_text())
    labels = {label: row["checkpoint"] for label, row in report["rows"].items() if row["checkpoint"]}
    by_path = {str(path): key for key, path in data.sr.items()}
    means = {by_path[path]: float(np.mean(report["rows"][label]["metrics"]["mae"]["per_simulation"]))
             for label, path in labels.items()}
    effect, p = independent(means, "mae")
    verdict = report["against_mse"]["sr"]["verdicts"]["mae"]["mae"]
    assert verdict["effect"] == pytest.approx(effect, rel=1e-9) and verdict["p"] == pytest.approx(p, rel=1e-9)
    assert verdict["paired"] and verdict["seeds"] == 2


def test_frame_verdicts_judge_autoencoders_of_each_grid_apart(data, tmp_path):
    aes = {}
    for grid, path in (("32x16", data.k32), ("64x32", data.k64)):
        for loss in ("mse", "mae"):
            out = tmp_path / f"ae_{grid}_{loss}"
            run_cli("train", "ae", "--data", path, "--loss", loss, "--latent", "4", "--width", "8", "--epochs", "1",
                    "--batch-size", "4", "--device", "cpu", "--out", out)
            aes[grid, loss] = out / "best.pt"
    out = tmp_path / "f"
    run_cli("evaluate", "frames", "--data", data.k32, "--fine", data.k64, *[a for p in aes.values() for a in ("--ae", p)],
            "--metrics", "mse,mae", "--device", "cpu", "--out", out)
    report = json.loads((out / "frames.json").read_text())
    rows = {row["checkpoint"]: label for label, row in report["rows"].items() if row["checkpoint"]}
    for grid in ("32x16", "64x32"):
        judged = report["against_mse"][f"ae at {grid}"]  # never an AE of one grid against an AE of the other
        assert judged["models"] == {rows[str(aes[grid, loss])]: {"loss": loss, "seed": 0} for loss in ("mse", "mae")}
        assert set(judged["verdicts"]) == {"mse", "mae"}
    assert "ae" not in report["against_mse"]


def test_the_recheck_script_evaluates_a_regimes_published_models_on_new_simulations(tmp_path):
    """sample_configs/recheck_pbdl.sh, shortened through its environment: regime A's checkpoints only (not regime B's
    `sol_b_*`), on simulations it generates, with the verdicts; run again, it skips what it has."""
    published = tmp_path / "checkpoints"
    published.mkdir()
    for path in (*SOL[:2], *SOL[3:5]):  # mse and lsim, seeds 0 and 1
        shutil.copy(path, published / path.name)
    shutil.copy(SOL[0], published / "sol_b_mse_seed0.pt")
    script = Path(__file__).resolve().parents[1] / "sample_configs" / "recheck_pbdl.sh"
    env = os.environ | {"CHECKPOINTS": str(published), "FRAMES": "4", "WARMUP": "0", "STARTS": "0 1", "STEPS": "2",
                        "METRICS": "mse,mae", "FLUIDLOSS": f"{sys.executable} -m fluidloss_cli"}
    run = ["bash", str(script), str(tmp_path / "work"), "a"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    report = json.loads((tmp_path / "work" / "evaluation_a" / "evaluation.json").read_text())
    assert sorted(Path(p).name for p in report["checkpoints"]["sol"].values()) == sorted(p.name for p in published.glob(
        "sol_[!b]*"))
    assert report["starts"] == [0, 1] and report["steps"] == 2
    assert set(report["against_mse"]["sol"]["verdicts"]["mae"]) == {"lsim"}
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "have evaluation_a/evaluation.json" in again.stdout
    wrong = subprocess.run([*run[:-1], "c"], env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and wrong.stderr == "error: the regime is a or b, not 'c'\n"
