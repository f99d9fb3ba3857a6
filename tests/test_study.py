"""`fluidloss study` end to end: the smoke preset (every task, scene and loss; VGG/LPIPS skipped for missing weights),
its report checked against the per-cell JSON files, kill -9 and resume, shards merged by `study report`, one
line for every config error, and the cells' command lines (pinned, and their table read against the app). The
studies run as `python -m fluidloss_cli` subprocesses, as a user runs them."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli, spacing
from processes import ROOT
from studies import RESUMED, SMOKE, TINY, results, small_config, study, tables, value_tables
from fluidloss_cli.engine.command_line import COMMANDS, argv
from fluidloss_cli.engine.data.novelty import HEADER, novelty
from fluidloss_cli.engine.metric_facts import MEASURES, MetricFacts, facts_of
from fluidloss_cli.engine.results import read_rollouts
from fluidloss_cli.engine.study.cell_lock import CellLock, cell_lock_path
from fluidloss_cli.engine.study.figures import error_spectra, example_place
from fluidloss_cli.engine.study.sections import Row, Section, build_section, marked


@pytest.fixture(scope="module")
def smoke(env, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "study"
    done = study(env, "run", SMOKE, "--out", out, "--workers", "2")
    assert "warning: 1 training seed(s)" in done.stderr
    return out


def per_simulation(out: Path, task: str, scene: str, loss: str, metric: str, step: int | None = None) -> list[float]:
    """A trained row's values straight from its evaluation cells' files: per seed, per test simulation (SOL: its
    mean over the rollout, or its value at rollout `step`)."""
    values = []
    for folder in sorted((out / "cells" / "eval" / task / scene / loss.replace("*", "x")).glob("seed*")):
        if task == "sol":
            report = json.loads((folder / "evaluation" / "evaluation.json").read_text())
            values += [float(np.mean(s) if step is None else s[step - 1])
                       for s in report["grids"]["coarse"]["rows"]["run"]["metrics"][metric]["per_simulation"]]
        else:
            report = json.loads((folder / "evaluation" / "frames.json").read_text())
            values += report["rows"]["run"]["metrics"][metric]["per_simulation"]
    return values


@pytest.mark.slow
def test_smoke_report_has_every_table_and_matches_the_cell_files(smoke):
    report = tables(smoke / "report.md")
    distances = {scene: report.pop(f"test vs training data · {scene}") for scene in ("karman", "buoyancy")}
    verdicts = {heading: report.pop(heading) for heading in list(report) if heading.endswith(" · against mse")}
    assert set(verdicts) == {f"{task} · {scene} · against mse" for task in ("sol", "sr", "ae")
                             for scene in ("karman", "buoyancy")}
    for rows in verdicts.values():  # one seed: no test applies, so no verdict
        assert [row[0] for row in rows[2:]] == ["mae", "lsim", "mse+0.1*lsim"]
        assert all(cell.startswith("not separated") for row in rows[2:] for cell in row[1:])
    for scene in ("karman", "buoyancy"):  # SOL's losses that are metrics, at steps 1 (= unroll) and 4 (the last)
        rows = report.pop(f"sol · {scene} · by rollout step")
        found = [row for row in rows if row[0] not in ("loss", "---")]
        assert [row[0] for row in rows if row[0] == "loss"] == ["loss"] * 3 and rows[0] == ["loss", "1", "4"]
        by_metric = dict(zip(("mse", "mae", "lsim"), (found[i:i + 5] for i in range(0, 15, 5))))
        for metric, table in by_metric.items():
            assert [row[0] for row in table] == ["coarse (no correction)", "mse", "mae", "lsim", "mse+0.1*lsim"]
            for row in table[1:]:
                for step, text in zip((1, 4), row[1:]):
                    values = per_simulation(smoke, "sol", scene, row[0], metric, step)
                    assert text.strip("*") == f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g}"
    assert set(report) == {f"{task} · {scene}" for task in ("sol", "sr", "ae") for scene in ("karman", "buoyancy")}
    for scene, rows in distances.items():
        assert rows[0] == HEADER and [row[2] for row in rows[2:]] == ["7", "7" if scene == "karman" else "8"]
        evaluated = next((smoke / "cells" / "eval" / "sol" / scene).glob("*/seed0/evaluation/evaluation.json"))
        baseline = json.loads(evaluated.read_text())["grids"]["coarse"]["rows"]["coarse"]["metrics"]["mse"]
        baseline = baseline["per_simulation"]
        data = smoke / "cells" / "data" / scene
        found = novelty(data / "test-coarse" / "data.h5", data / "train-coarse" / "data.h5")
        for row, item, errors in zip(rows[2:], found, baseline):
            assert row[3] == f"{np.mean(errors):.3g}" and row[5].startswith(f"{item.nearest_frame:.3g} (")
            assert 0 < item.nearest_frame <= item.nearest_trajectory and item.nearest_simulation in row[4]
    metrics = "mse,mae,lsim,lpips,vgg,divergence,energy,spectrum,vorticity".split(",")
    checked = 0
    for heading, rows in report.items():
        task, scene = heading.split(" · ")
        header = rows[0]
        assert header[-len(metrics):] == metrics
        by_loss = {row[0]: dict(zip(header, row)) for row in rows[2:]}
        for loss in ("mse", "mae", "lsim", "mse+0.1*lsim"):
            for metric in metrics:
                text = by_loss[loss][metric].strip("*")
                if metric in ("lpips", "vgg"):
                    assert text == "missing"
                    continue
                values = per_simulation(smoke, task, scene, loss, metric)
                mean, std = np.mean(values), np.std(values, ddof=1)
                assert text == f"{mean:.4g} ± {std:.2g}", (heading, loss, metric)
                checked += 1
        for loss in ("vgg", "lpips"):
            assert f"{loss} (skipped: weights missing)" in by_loss
        assert ("bicubic" in by_loss) == (task == "sr") and ("coarse (no correction)" in by_loss) == (task == "sol")
    assert checked == 6 * 4 * 7
    figures = {p.name for p in (smoke / "figures").glob("*.png")}
    assert {"sol_karman_rollout.png", "sr_buoyancy_comparison.png", "ae_karman_training.png", "sr_buoyancy_spectra.png",
            "ae_karman_spectra.png"} <= figures
    plan = json.loads((smoke / "plan.json").read_text())
    wavenumbers, spectra, reference, nyquist = error_spectra(smoke, build_section(smoke, plan, "sr", "buoyancy"))
    with h5py.File(smoke / "cells/data/buoyancy/test-coarse/data.h5") as coarse:
        assert nyquist == pytest.approx(min(0.5 / step for step in spacing(coarse)))  # the coarse grid's, from its file
    assert nyquist < wavenumbers[-1]
    evaluated = json.loads(next((smoke / "cells/eval/sr/buoyancy/mse").rglob("frames.json")).read_text())["spectra"]
    assert np.allclose(spectra["mse"], evaluated["rows"]["run"]["error"]) and "bicubic" in spectra
    assert len(wavenumbers) == len(reference) == len(spectra["bicubic"]) and "vgg" not in spectra
    example = next((smoke / "cells" / "eval" / "sr" / "buoyancy").rglob("example.npz"))
    with np.load(example) as data:  # the comparison names the frame it shows, the one `evaluate frames` kept
        place = f"test simulation {data['simulation']}, frame {int(data['frame'])}"
    section = Section("sr", "buoyancy", "sr", [], {}, example=example)
    assert example_place(section) == place and "frame 0" not in place  # the middle frame, past the start-up
    text = (smoke / "report.md").read_text()
    assert "cells/render/sol/karman/frames/frame_0004.png" in text and "| data/karman/train-fine | done |" in text


@pytest.mark.slow
def test_skipped_cells_are_recorded_not_failed(smoke):
    found = results(smoke)
    skipped = {cell for cell, r in found.items() if r["status"] == "skipped"}
    assert skipped == {f"{kind}/{task}/{scene}/{loss}/seed0" for kind in ("train", "eval") for task in ("sol", "sr", "ae")
                       for scene in ("karman", "buoyancy") for loss in ("vgg", "lpips")}
    assert all(r["status"] == "done" and r["wall_s"] > 0 and "cpu" in r["device"] for c, r in found.items()
               if c not in skipped)
    assert not list((smoke / "cells").rglob("failed.json"))


def run_tiny(env: dict, out: Path, *extra: str) -> subprocess.CompletedProcess:
    config = out.parent / "tiny.toml"
    config.write_text(TINY)
    return study(env, "run", config, "--out", out, *extra)


@pytest.mark.slow
def test_kill_9_then_rerun_finishes_only_the_missing_cells(env, tmp_path):
    whole = tmp_path / "whole" / "study"
    whole.parent.mkdir()
    run_tiny(env, whole, "--workers", "2")
    every = set(results(whole))

    broken = tmp_path / "broken" / "study"
    broken.parent.mkdir()
    config = broken.parent / "tiny.toml"
    config.write_text(TINY)
    process = subprocess.Popen([sys.executable, "-m", "fluidloss_cli", "study", "run", str(config), "--out",
                                str(broken), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (broken / "cells" / "train" / "sr" / "karman" / "mse" / "seed0" / "result.json").exists():
        assert process.poll() is None and time.time() < deadline, "the study ended before the first model"
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = set(results(broken))
    assert before and before < every

    rerun = run_tiny(env, broken, "--workers", "2")
    ran = set(re.findall(r"^(\S+): done$", rerun.stderr, re.MULTILINE))
    assert ran == every - before
    assert f"{len(before)} were finished before" in rerun.stderr
    assert value_tables(broken) == value_tables(whole)

    sharded = tmp_path / "sharded" / "study"
    sharded.parent.mkdir()
    first = run_tiny(env, sharded, "--shard", "0/2", "--workers", "2")
    second = run_tiny(env, sharded, "--shard", "1/2", "--workers", "2")
    assert "after every shard: fluidloss study report" in first.stderr and not (sharded / "report.md").exists()
    trained = [set(re.findall(r"^train/(\S+): done$", s.stderr, re.MULTILINE)) for s in (first, second)]
    assert trained[0] and trained[1] and not trained[0] & trained[1]
    study(env, "report", sharded)
    assert value_tables(sharded) == value_tables(whole)


VARIANTS = TINY.replace("[scenes.karman]", '[scenes.karman_low]\nscene = "karman"').replace(
    "[tasks.sr]", '[tasks.sr_small]\ntask = "sr"\nlosses = ["mae"]\namp = "bf16"').replace(
    'losses = ["mse", "mae"]', 'losses = ["mse", "mae"]\nseeds = [0, 1]').replace("seeds = [0]\n", "", 1)


@pytest.mark.parametrize("edit, fragments", [
    (lambda t: t.replace("test_re = [2e5, 3e5]", "test_re = [2e5, 4e5]"), ["differ from every training one", "Re 400000"]),
    (lambda t: t.replace("test_seeds = [7]", "test_seeds = [0]"), ["seed 0"]),
    (lambda t: t.replace('losses = ["mse", "mae"]', 'losses = ["mse", "ssim"]'), ["unknown loss 'ssim'"]),
    (lambda t: t.replace("[scenes.karman]", "[scenes.smoke]"), ["unknown scene 'smoke'"]),
    (lambda t: t.replace("[tasks.sr]", "[tasks.gan]"), ["tasks.gan: unknown task"]),
    (lambda t: t.replace("stride = 3\n[tasks.ae]", "strides = 3\n[tasks.ae]"), ["unknown key(s) strides"]),
    (lambda t: t.replace("epochs = 1", "epoch = 1"), ["unknown key(s) epoch"]),
    (lambda t: t + "[scenes.buoyancy]\nfine = '32x32'\ncoarse = '16x16'\nframes = 8\ntrain_seeds = [0]\n"
               "test_seeds = [1]\ntrain_re = [1e5]\n", ["buoyancy has no Reynolds number"]),
    (lambda t: t.replace('coarse = "16x8"', 'coarse = "16x16"'), ["times 2 or 4"]),
    (lambda t: t.replace("batch_size = 4", "batch_size = 32"), ["fewer than batch_size 32"]),
    (lambda t: t.replace("[tasks.sr]", "[tasks.sol]\nstart = []\n[tasks.sr]"), ["rollouts from frames [] of 7 steps"]),
    # named variants of a scene and a task (VARIANTS)
    (lambda t: VARIANTS.replace('losses = ["mae"]', 'losses = ["lsim"]'), ["tasks.sr_small.losses must name study losses"]),
    (lambda t: VARIANTS.replace('amp = "bf16"', 'amp = "fp8"'), ["tasks.sr_small.amp 'fp8': expected one of off, bf16"]),
    (lambda t: VARIANTS.replace('amp = "bf16"', 'lr_schedule = "step"'),
     ["tasks.sr_small.lr_schedule", "expected one of cosine, constant"]),
    (lambda t: t.replace("[tasks.sr]", '[tasks.sol]\nactivation = "tanh"\n[tasks.sr]'),
     ["tasks.sol.activation", "expected one of relu, leaky_relu"]),
    (lambda t: t.replace("[tasks.sr]", '[tasks.sol]\nnormalize = "yes"\n[tasks.sr]'),
     ["tasks.sol: normalize must be a bool"]),
    (lambda t: VARIANTS.replace('task = "sr"', 'task = "gan"'), ["tasks.sr_small: unknown task 'gan'"]),
    (lambda t: VARIANTS.replace('scene = "karman"', 'scene = "smoke"'), ["unknown scene 'smoke'"]),
    (lambda t: VARIANTS.replace('amp = "bf16"', 'lrs = { mse = 1e-3 }'), ["tasks.sr_small.lrs: 'mse'", "(mae)"]),
    (lambda t: VARIANTS.replace('amp = "bf16"', 'lrs = { mae = -1 }'), ["tasks.sr_small.lrs.mae must be positive and finite, got -1"]),
    (lambda t: VARIANTS.replace('amp = "bf16"', 'seeds = [1, 1]'), ["tasks.sr_small.seeds must name"]),
    # the ranges the command line checks, checked at plan time (engine/ranges.py)
    (lambda t: t.replace("width = 8\nblocks", "width = 0\nblocks"), ["tasks.sr.width must be at least 1, got 0"]),
    (lambda t: t.replace("[tasks.ae]", "[tasks.ae]\nlr = -1"), ["tasks.ae.lr must be positive and finite, got -1"]),
    (lambda t: t.replace("batch_size = 4", "batch_size = 0"), ["batch_size must be at least 1, got 0"]),
    (lambda t: t.replace("epochs = 1", "epochs = 0"), ["epochs must be at least 1, got 0"]),
    (lambda t: t.replace("seeds = [0]\nepochs", "seeds = [-1]\nepochs"), ["seeds must be from 0 to", "got -1"]),
    (lambda t: t.replace("train_seeds = [0]", "train_seeds = [4294967296]"), ["scenes.karman.train_seeds must be"]),
    (lambda t: t.replace("train_seeds = [0]", "train_seeds = [0, 0]"), ["scenes.karman.train_seeds names a seed twice"]),
    (lambda t: t.replace('device = "cpu"', 'device = "tpu"'), ["device 'tpu': expected auto, cpu, cuda or cuda:N"]),
    (lambda t: t.replace("[tasks.ae]", "[tasks.ae]\nscenes = []"), ["tasks.ae.scenes names no scene"]),
    (lambda t: t.replace("frames = 8", "frames = 8\nwarmup = -5"), ["scenes.karman.warmup must be 0 or more"]),
    (lambda t: t.replace("[tasks.sr]", '[tasks.sol]\nrender_loss = "lsmi"\n[tasks.sr]'),
     ["tasks.sol.render_loss 'lsmi' is not one of the task's losses (mse, mae)"]),
])
def test_config_errors_are_one_line(tmp_path, edit, fragments):
    config = tmp_path / "bad.toml"
    config.write_text(edit(TINY))
    assert_one_line_error(run_cli("study", "plan", config, "--no-probe", ok=False), *fragments)


def test_a_folder_of_another_study_is_refused(tmp_path):
    out, text = tmp_path / "study", TINY.replace("\nseeds = [0]\n", "\nseeds = [0, 1, 2]\n")  # no seed warning
    (tmp_path / "tiny.toml").write_text(text)
    (tmp_path / "other.toml").write_text(text.replace('name = "tiny"', 'name = "other"'))
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import read_config
    from fluidloss_cli.engine.study.runner import write_plan

    config = read_config(tmp_path / "tiny.toml")
    write_plan(out, config, text, plan_cells(config))
    assert_one_line_error(run_cli("study", "run", tmp_path / "other.toml", "--out", out, ok=False),
                          "holds the study of another config")
    assert_one_line_error(run_cli("study", "run", tmp_path / "tiny.toml", "--out", out, "--shard", "2/2", ok=False),
                          "--shard '2/2'")


@pytest.mark.parametrize("preset", sorted((ROOT / "sample_configs").glob("study_*.toml")), ids=lambda p: p.name)
def test_every_study_preset_is_a_valid_config(preset):
    from fluidloss_cli.engine.study.config import read_config

    config = read_config(preset)
    assert config.losses and config.tasks and config.scenes


def test_named_variants_of_scenes_and_tasks_with_their_own_losses(tmp_path):
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import parse_config

    config = parse_config(VARIANTS)
    assert (config.scenes["karman_low"].kind, config.tasks["sr_small"].kind) == ("karman", "sr")
    assert config.tasks["sr_small"].losses == ("mae",) and config.tasks["ae"].losses == ("mse", "mae")
    cells = plan_cells(config)
    generate = next(c for c in cells if c.id == "data/karman_low/train-fine")
    assert generate.args[:2] == ("generate", "karman")
    trained = [c.id for c in cells if c.kind == "train"]
    # seed by seed, every task and loss: an interrupted study has compared every loss on its first seeds
    assert trained == [f"train/{task}/karman_low/{loss}/seed{seed}" for seed in (0, 1)
                       for task, losses in (("sr_small", ("mae",)), ("ae", ("mse", "mae"))) for loss in losses]
    sr = next(c for c in cells if c.id == "train/sr_small/karman_low/mae/seed0")
    assert sr.args[:2] == ("train", "sr") and sr.args[sr.args.index("--amp") + 1] == "bf16"
    assert "--amp" not in next(c for c in cells if c.id == "train/ae/karman_low/mse/seed0").args


def test_a_task_with_its_own_seeds_and_a_rate_per_loss():
    """A learning-rate sweep's task trains one seed; a comparison's task trains each loss at its chosen rate."""
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import parse_config

    config = parse_config(VARIANTS.replace('amp = "bf16"', 'seeds = [5]').replace(
        "[tasks.ae]", "[tasks.ae]\nlr = 2e-3\nlrs = { mae = 3e-4 }"))
    cells = plan_cells(config)
    trained = {c.id: c.args for c in cells if c.kind == "train"}
    assert list(trained) == [f"train/ae/karman_low/{loss}/seed{seed}" for seed in (0, 1) for loss in ("mse", "mae")] \
        + ["train/sr_small/karman_low/mae/seed5"]
    rate = {cell: args[args.index("--lr") + 1] for cell, args in trained.items() if "--lr" in args}
    assert rate == {"train/ae/karman_low/mse/seed0": "0.002", "train/ae/karman_low/mae/seed0": "0.0003",
                    "train/ae/karman_low/mse/seed1": "0.002", "train/ae/karman_low/mae/seed1": "0.0003"}


PINNED_ARGS = {
    "study_pbdl.toml": {
        "data/karman_a/train-fine": [
            "generate", "karman", "--res", "128x64", "--frames", "500", "--out",
            "cells/data/karman_a/train-fine/data.h5", "--re", "160000", "--re", "320000", "--re", "640000", "--re",
            "1.28e+06", "--re", "2.56e+06", "--re", "5.12e+06", "--seed", "0", "--warmup", "650"],
        "data/karman_a/train-coarse": [
            "downsample", "cells/data/karman_a/train-fine/data.h5", "--res", "64x32", "--out",
            "cells/data/karman_a/train-coarse/data.h5"],
        "train/sol/karman_a/mse/seed0": [
            "train", "sol", "--data", "cells/data/karman_a/train-coarse/data.h5", "--unroll", "4", "--blocks", "5",
            "--kernel-size", "5", "--width", "32", "--patience", "2", "--lr", "0.0003", "--loss", "mse", "--epochs", "5",
            "--batch-size", "3", "--seed", "0", "--out", "cells/train/sol/karman_a/mse/seed0/run"],
        "eval/sol/karman_a/mse/seed0": [
            "evaluate", "rollout", "--data", "cells/data/karman_a/test-coarse/data.h5", "--sol",
            "cells/train/sol/karman_a/mse/seed0/run/best.pt", "--start", "0", "--start", "150", "--start", "300",
            "--steps", "100", "--metrics", "mse,mae,lsim,lpips-squeeze,divergence,energy,spectrum,spectrum_high,vorticity",
            "--out", "cells/eval/sol/karman_a/mse/seed0/evaluation"],
        "render/sol/karman_a": [
            "simulate", "karman", "--from", "cells/data/karman_a/test-coarse/data.h5", "--start", "0", "--steps", "100",
            "--sol", "cells/train/sol/karman_a/lsim/seed0/run/best.pt", "--quantity", "vorticity", "--out",
            "cells/render/sol/karman_a/rollout.h5", "--render", "cells/render/sol/karman_a/frames"],
    },
    "study_pbdl_book.toml": {
        "train/sol_book/karman_a/lsim/seed2": [
            "train", "sol", "--data", "cells/data/karman_a/train-coarse/data.h5", "--unroll", "4", "--blocks", "5",
            "--kernel-size", "5", "--width", "32", "--lr", "0.0001", "--amp", "bf16", "--activation", "leaky_relu",
            "--normalize", "--lr-schedule", "constant", "--loss", "lsim", "--epochs", "5", "--batch-size", "3",
            "--seed", "2", "--out", "cells/train/sol_book/karman_a/lsim/seed2/run"],
    },
    "study_smoke.toml": {
        "eval/sr/buoyancy/mse/seed0": [
            "evaluate", "frames", "--data", "cells/data/buoyancy/test-coarse/data.h5", "--fine",
            "cells/data/buoyancy/test-fine/data.h5", "--sr", "cells/train/sr/buoyancy/mse/seed0/run/best.pt",
            "--start", "0", "--stride", "3", "--metrics", "mse,mae,lsim,lpips,vgg,divergence,energy,spectrum,vorticity",
            "--out", "cells/eval/sr/buoyancy/mse/seed0/evaluation"],
    },
}
"""Preset -> cell -> its command line, written out: study folders hold these in plan.json and compare them on a rerun,
so their format may not drift."""


def preset_commands(preset: str) -> dict[str, list[str]]:
    """Cell id -> its command line, as the sample config `preset` plans them."""
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import read_config

    return {cell.id: list(cell.args) for cell in plan_cells(read_config(ROOT / "sample_configs" / preset))}


@pytest.mark.parametrize("preset", sorted(PINNED_ARGS))
def test_cell_command_lines_keep_their_format(preset):
    commands = preset_commands(preset)
    assert {cell_id: commands[cell_id] for cell_id in PINNED_ARGS[preset]} == PINNED_ARGS[preset]


@pytest.mark.parametrize("base, follow_up, copied, count", [
    ("study_pbdl.toml", "study_pbdl_book.toml", ("data/",), 4),
    ("study_pbdl.toml", "study_pbdl_horizon.toml", ("data/",), 4),
    ("study_sr_ae.toml", "study_sr_ae_lr.toml", ("data/",), 8),
    ("study_buoyancy_sol.toml", "study_buoyancy_sol_lr.toml", ("data/",), 4),
])
def test_follow_up_studies_share_the_cells_they_tell_users_to_copy(base, follow_up, copied, count):
    """The presets' comments say: copy these folders of one study into the other, and they are reused; that is right
    only while those cells run the same command lines in both presets."""
    first, other = preset_commands(base), preset_commands(follow_up)
    shared = [cell_id for cell_id in other if cell_id.startswith(copied)]
    assert len(shared) == count
    assert {cell_id: other[cell_id] for cell_id in shared} == {cell_id: first[cell_id] for cell_id in shared}


def click_command(name: str):
    """The click command of `fluidloss NAME` (e.g. "train sol"), or None when the app has none."""
    import typer

    from fluidloss_cli.app import app

    command = typer.main.get_command(app)
    for word in name.split():
        command = getattr(command, "commands", {}).get(word)
    return command


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_study_command_table_matches_the_app(name):
    """Each command the study runs exists, with the table's positional arguments and, under each Python name, an
    option of the table's flag (its visible name, not an old spelling) that repeats where the table says: renaming an
    option of a command fails here, not in a study."""
    command = click_command(name)
    assert command is not None, f"fluidloss {name}: no such command"
    params = {param.name: param for param in command.params}
    assert tuple(p.name for p in command.params if p.param_type_name == "argument") == COMMANDS[name].arguments
    for key, option in COMMANDS[name].options.items():
        param = params.get(key)
        assert param is not None and param.param_type_name == "option", f"fluidloss {name}: no option {key}"
        assert option.flag in param.opts and not param.hidden, f"fluidloss {name} {key}: {option.flag}, {param.opts}"
        assert param.multiple == option.repeats, f"fluidloss {name} {option.flag}: multiple is {param.multiple}"
        assert param.is_flag == option.switch, f"fluidloss {name} {option.flag}: is_flag is {param.is_flag}"


@pytest.mark.parametrize("name, values, fragment", [
    ("train sol", dict(latent=4), "`fluidloss train sol` has no option latent"),
    ("train gan", dict(), "no command line for `fluidloss train gan`"),
    ("generate", dict(res="32x16"), "`fluidloss generate` needs its argument(s) scene"),
    ("evaluate rollout", dict(steps=[4, 8]), "`fluidloss evaluate rollout` takes one --steps"),
])
def test_a_command_line_outside_the_table_is_refused(name, values, fragment):
    from fluidloss_cli.engine.errors import FluidlossError

    with pytest.raises(FluidlossError, match=re.escape(fragment)):
        argv(name, **values)


def test_a_command_line_repeats_lists_and_leaves_out_none():
    assert argv("generate", scene="karman", re=[1e5, 1.5e5], seed=(0, 2), warmup=None, out="x.h5") == [
        "generate", "karman", "--re", "100000", "--re", "150000", "--seed", "0", "--seed", "2", "--out", "x.h5"]


@pytest.mark.slow
def test_a_killed_training_cell_continues_from_its_checkpoint_to_the_uninterrupted_result(env, tmp_path):
    runs = {}
    for name in ("whole", "killed"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "study.toml").write_text(RESUMED)
        runs[name] = folder / "study"
    study(env, "run", tmp_path / "whole" / "study.toml", "--out", runs["whole"])
    process = subprocess.Popen([sys.executable, "-m", "fluidloss_cli", "study", "run", str(tmp_path / "killed" /
                                "study.toml"), "--out", str(runs["killed"])], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    metrics = runs["killed"] / "cells" / "train" / "sol" / "karman" / "mse" / "seed0" / "run" / "metrics.jsonl"
    deadline = time.time() + 600
    while not (metrics.parent / "last.pt").exists():
        assert process.poll() is None and time.time() < deadline, "the study ended before the first epoch"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = torch.load(metrics.parent / "last.pt", weights_only=False)["epoch"]
    assert 1 <= done_before < 3 and not (metrics.parent.parent / "result.json").exists()
    study(env, "run", tmp_path / "killed" / "study.toml", "--out", runs["killed"])
    log = (metrics.parent.parent / "log.txt").read_text()
    assert f"resuming after epoch {done_before}" in log
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    whole = [json.loads(line) for line in (runs["whole"] / metrics.relative_to(runs["killed"])).read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert [r["val_loss"] for r in lines] == [r["val_loss"] for r in whole]
    assert value_tables(runs["killed"]) == value_tables(runs["whole"])


@pytest.mark.slow
def test_export_keeps_results_and_chosen_models_not_data(env, smoke, tmp_path):
    from fluidloss_cli.engine.checkpoints import load_sol

    dest = tmp_path / "published"
    done = study(env, "export", smoke, dest, "--checkpoints", "sol/karman/mse/*")
    assert f"to {dest}" in done.stderr
    assert not [p for p in dest.rglob("*") if p.suffix in (".h5", ".pt") and p.parent.name != "checkpoints"]
    assert not (dest / "locks").exists()
    assert {p.name for p in (dest / "checkpoints").iterdir()} == {"sol_karman_mse_seed0.pt"}
    slim = torch.load(dest / "checkpoints" / "sol_karman_mse_seed0.pt", weights_only=True)
    full = torch.load(smoke / "cells/train/sol/karman/mse/seed0/run/best.pt", weights_only=True)
    assert "optimizer" not in slim and all(torch.equal(slim["model"]["state"][k], v)
                                           for k, v in full["model"]["state"].items())
    load_sol(dest / "checkpoints" / "sol_karman_mse_seed0.pt", torch.device("cpu"))
    assert (dest / "report.md").read_text() == (smoke / "report.md").read_text()
    root = str(smoke.resolve())
    assert not [p for p in dest.rglob("*") if p.is_file() and p.suffix != ".png" and root.encode() in p.read_bytes()]
    assert slim["datasets"]["data"]["path"] == "cells/data/karman/train-coarse/data.h5"
    study(env, "report", dest)  # an export is a study folder: its report is rebuilt from its own files
    values = {k: v for k, v in tables(dest / "report.md").items() if not k.startswith("test vs training")}
    assert values == {k: v for k, v in tables(smoke / "report.md").items() if not k.startswith("test vs training")}
    assert_one_line_error(run_cli("study", "export", smoke, tmp_path / "x", "--checkpoints", "sol/nope/*", ok=False),
                          "matches no training cell")


@pytest.mark.slow
def test_export_leaves_out_running_cells_models_and_locks(env, smoke, tmp_path):
    """A training cell still running (no result.json yet, its run.lock held) publishes no checkpoint (its best.pt is
    an epoch's, not the model's) and none of its files; no lock file leaves the study folder."""
    copy = tmp_path / "study"
    shutil.copytree(smoke, copy, ignore=shutil.ignore_patterns("*.h5"))
    running = copy / "cells/train/sol/karman/mae/seed0"
    (running / "result.json").unlink()
    (running / "run.lock").write_text("12345")
    dest = tmp_path / "published"
    study(env, "export", copy, dest, "--checkpoints", "sol/karman/m*")
    assert {p.name for p in (dest / "checkpoints").iterdir()} == {"sol_karman_mse_seed0.pt",
                                                                  "sol_karman_mse+0.1xlsim_seed0.pt"}
    assert not list(dest.rglob("*.lock"))
    assert not (dest / "cells/train/sol/karman/mae/seed0").exists()  # no log of work that is not there
    assert (dest / "cells/train/sol/karman/mse/seed0/result.json").is_file()


@pytest.mark.slow
def test_status_shows_the_cells_a_study_run_is_running_with_their_progress(env, smoke, tmp_path):
    """`study status` of a study run here (no Slurm): a cell whose lock a live process holds is running, with that
    host and pid and the last line of its log; an unfinished cell whose lock's owner is gone is not started; and the
    time left, estimated from the study's finished cells."""
    copy = tmp_path / "study"
    shutil.copytree(smoke, copy, ignore=shutil.ignore_patterns("*.h5"))
    running, abandoned = "train/sol/karman/mae/seed0", "train/sol/karman/mse/seed0"
    for cell in (running, abandoned):
        (copy / "cells" / cell / "result.json").unlink()
    (copy / "cells" / running / "log.txt").write_text("epoch 1/1 loss 0.5: 40% (8/20 samples of 1 epochs)\n")
    lock = CellLock(copy, running)
    assert lock.acquire()  # this test process runs the cell, as a `study run` worker would
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    cell_lock_path(copy, abandoned).write_text(json.dumps({"host": socket.gethostname(), "pid": int(gone.stdout)}))
    try:
        listed = study({**env, "COLUMNS": "400"}, "status", copy).stderr
    finally:
        lock.release()
    rows = {cells[0]: cells[1:] for line in listed.splitlines()
            if len(cells := [c.strip() for c in line.strip().strip("│").split("│")]) == 4}
    assert rows[running][0] == "running"
    assert rows[running][2] == f"on {socket.gethostname()} (pid {os.getpid()}): epoch 1/1 loss 0.5: 40% (8/20 " \
                               "samples of 1 epochs)"
    assert rows[abandoned][0] == "not started"
    assert "done" not in {state for state, *_ in rows.values()}  # finished cells only with --all
    assert re.search(r"\d+ done", listed) and "1 running" in listed and "not submitted" not in listed
    # what is left (the two models, and the data cells whose files the copy left out), timed by the study's own
    # finished cells, on as many workers as run now
    assert re.search(r"^left: \d+ cell\(s\); estimate from this study's finished cells .*: [\d.]+ (s|min) of cell "
                     r"time, about [\d.]+ (s|min) on 1 worker\(s\)", listed, re.MULTILINE), listed


@pytest.mark.slow
def test_the_report_ranks_each_metric_by_the_direction_its_evaluation_file_stores(smoke):
    """Every evaluation file stores each column's direction; the report bolds a loss only where that direction makes
    it best (lowest error, highest correlation) and never bolds a measure without one (energy)."""
    evaluated = next((smoke / "cells" / "eval" / "sol" / "karman").glob("*/seed0/evaluation"))
    stored = read_rollouts(evaluated).metrics
    assert {name: facts.better for name, facts in stored.items()} == {
        "mse": "lower", "mae": "lower", "lsim": "lower", "lpips": "lower", "vgg": "lower", "divergence": "lower",
        "energy": None, "spectrum": "lower", "vorticity": "higher"}
    for heading, rows in tables(smoke / "report.md").items():
        if heading.startswith("test vs training") or heading.endswith(("by rollout step", "against mse")):
            continue
        header, body = rows[0], rows[2:]
        for column, metric in enumerate(header):
            bold = [row[0] for row in body if row[column].startswith("**")]
            if not bold:
                continue
            assert stored[metric].better is not None and len(bold) == 1, (heading, metric)
            means = {row[0]: float(row[column].strip("*").split(" ± ")[0]) for row in body
                     if " ± " in row[column] and row[0] not in ("reference", "coarse (no correction)", "bicubic")}
            pick = max if stored[metric].better == "higher" else min
            assert bold[0] == pick(means, key=means.get), (heading, metric)


def test_no_loss_is_marked_best_while_the_comparison_is_incomplete():
    """A study half run has no best loss: with another loss still pending, failed or measured on fewer seeds, the
    clear winner of the losses measured so far is not bolded; a loss that cannot be trained here does not hold the
    mark back."""
    def section(*others: Row) -> Section:
        rows = [Row("coarse (no correction)", {"mae": [9.0, 9.1]}),
                Row("mse", {"mae": [1.0, 1.1, 1.0, 1.1]}, seeds=2), Row("mae", {"mae": [3.0, 3.1, 3.0, 3.1]}, seeds=2)]
        return Section("sol", "karman", "sol", rows + list(others), {"mae": facts_of("mae")})

    assert marked(section(), "mae") == "mse"
    assert marked(section(Row("lsim", status="skipped: weights missing")), "mae") == "mse"
    assert marked(section(Row("lsim", status="pending")), "mae") is None
    assert marked(section(Row("lsim", status="failed")), "mae") is None
    assert marked(section(Row("lsim", {"mae": [5.0, 5.1]}, seeds=1)), "mae") is None  # 1 of 2 seeds so far


def test_metric_facts_round_trip_and_files_without_directions_get_the_known_one():
    """What evaluation files store comes back unchanged; a file written before directions were stored gets each
    metric's known direction (the study folders of earlier versions still rank)."""
    for facts in [*MEASURES.values(), facts_of("mse+0.1*lsim"), MetricFacts("lsim", "x", missing="no weights")]:
        assert MetricFacts.from_json(facts.name, facts.to_json()) == facts
    old = {"description": "d", "absolute": False, "missing": None}
    assert [MetricFacts.from_json(name, old).better for name in ("vorticity", "spectrum", "energy", "lsim")] == \
        ["higher", "lower", None, "lower"]


@pytest.mark.slow
def test_a_row_measured_on_fewer_seeds_than_the_study_says_how_many(env, tmp_path):
    """While a study runs (or after a failure) a loss may be measured on some of its seeds: its row pools those and
    says so, `mse (1 of 2 seeds)`, with the values of that seed's model alone. With both seeds, report.json holds
    every value seed-major (each model's test simulations consecutive), as docs/study.md says."""
    out = tmp_path / "study"
    config = tmp_path / "two_seeds.toml"
    config.write_text(TINY.replace("seeds = [0]", "seeds = [0, 1]").replace('losses = ["mse", "mae"]',
                                                                            'losses = ["mse"]').split("[tasks.ae]")[0])
    study(env, "run", config, "--out", out)
    full = tables(out / "report.md")["sr · karman"]
    assert "mse" in {row[0] for row in full[2:]}
    pooled = json.loads((out / "report.json").read_text())["sr/karman"]["mse"]["values"]["mse"]
    assert pooled == pytest.approx(per_simulation(out, "sr", "karman", "mse", "mse"))  # seed 0's sims, then seed 1's
    (out / "cells" / "eval" / "sr" / "karman" / "mse" / "seed1" / "result.json").unlink()
    study(env, "report", out)
    rows = {row[0]: row for row in tables(out / "report.md")["sr · karman"][2:]}
    header = tables(out / "report.md")["sr · karman"][0]
    alone = per_simulation(out, "sr", "karman", "mse", "mse")[:2]  # seed 0's model on the 2 test simulations
    assert rows["mse (1 of 2 seeds)"][header.index("mse")].strip("*") == \
        f"{np.mean(alone):.4g} ± {np.std(alone, ddof=1):.2g}"


@pytest.mark.slow
def test_first_runs_the_chosen_models_before_the_others(env, tmp_path):
    """`study run --first 'ae/*'`: the autoencoders and the data they need start before any other model, and the
    rest of the study still runs; a pattern that matches no model is a one-line error."""
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    refused = study(env, "run", config, "--out", tmp_path / "refused", "--first", "sol/*", check=False)
    assert refused.returncode == 2 and "--first 'sol/*' matches no model" in refused.stderr
    done = study(env, "run", config, "--out", tmp_path / "study", "--first", "ae/*")
    started = re.findall(r"^(train/\S+): started", done.stderr, re.MULTILINE)
    assert [cell.split("/")[1] for cell in started] == ["ae", "ae", "sr", "sr"], started
    planned = {cell["id"] for cell in json.loads((tmp_path / "study" / "plan.json").read_text())["cells"]}
    assert set(results(tmp_path / "study")) == planned  # every cell ran, the others after the chosen ones


def test_a_model_id_is_spelt_one_way_and_read_back_from_any_of_its_cells():
    from fluidloss_cli.engine.study.cells import plan_cells
    from fluidloss_cli.engine.study.config import parse_config
    from fluidloss_cli.engine.study.layout import ModelId

    model = ModelId.of("sol", "karman_a", "mse+0.1*lsim", 2)
    assert str(model) == "sol/karman_a/mse+0.1xlsim/seed2"
    assert (model.train, model.eval) == ("train/sol/karman_a/mse+0.1xlsim/seed2", "eval/sol/karman_a/mse+0.1xlsim/seed2")
    assert ModelId.parse(model.train) == ModelId.parse(model.eval) == ModelId.parse(str(model)) == model
    cells = {cell.id for cell in plan_cells(parse_config(TINY))}
    assert {ModelId.of("sr", "karman", "mae", 0).train, ModelId.of("ae", "karman", "mse", 0).eval} <= cells


SHARED_FINE = small_config('[scenes.karman_4x]\nfine_from = "karman"\ncoarse = "8x4"\n[tasks.sr]\nwidth = 8\nblocks = 1\n'
                           'stride = 3\n', name="shared")


def test_a_table_sharing_fine_data_downsamples_them_once_more_and_reports_its_own_section(env, tmp_path):
    """`fine_from`: 4x SR beside 2x on the same simulations, generated once."""
    config, out = tmp_path / "shared.toml", tmp_path / "out"
    config.write_text(SHARED_FINE)
    study(env, "run", config, "--out", out)
    plan = json.loads((out / "plan.json").read_text())
    kinds = {cell["id"]: cell for cell in plan["cells"]}
    assert "data/karman_4x/train-fine" not in kinds and "data/karman_4x/test-fine" not in kinds
    assert kinds["data/karman_4x/train-coarse"]["deps"] == ["data/karman/train-fine"]
    args = kinds["train/sr/karman_4x/mse/seed0"]["args"]
    assert args[args.index("--coarse") + 1] == "cells/data/karman_4x/train-coarse/data.h5"
    assert args[args.index("--fine") + 1] == "cells/data/karman/train-fine/data.h5"
    with h5py.File(out / "cells/data/karman_4x/test-coarse/data.h5") as coarse:
        assert list(coarse.attrs["resolution"]) == [8, 4]
    report = json.loads((out / "report.json").read_text())
    assert report["sr/karman"]["mse"]["values"]["mse"] != report["sr/karman_4x"]["mse"]["values"]["mse"]


PIPELINE = small_config('[tasks.sol]\nunroll = 1\nwidth = 8\nblocks = 1\nstart = [1]\nsteps = 3\n'
                        '[tasks.sr]\nwidth = 8\nblocks = 1\nstride = 3\nrollout_sol = "sol"\n', name="pipe",
                        losses=("mse", "mae"))


def test_sr_models_also_run_after_the_sol_model_in_the_rollout_use_case(env, tmp_path):
    """`rollout_sol`: every SR model super-resolves the rollouts of the named SOL task's model of its seed; the report
    gives that its own section (rows from each evaluation's fine `run+run` row, bicubic from `run+bicubic`)."""
    config, out = tmp_path / "pipe.toml", tmp_path / "out"
    config.write_text(PIPELINE)
    study(env, "run", config, "--out", out)
    plan = {cell["id"]: cell for cell in json.loads((out / "plan.json").read_text())["cells"]}
    args = plan["pipe/sr/karman/mae/seed0"]["args"]
    assert args[args.index("--sol") + 1] == "cells/train/sol/karman/mse/seed0/run/best.pt"
    assert args[args.index("--sr") + 1] == "cells/train/sr/karman/mae/seed0/run/best.pt"
    assert set(plan["pipe/sr/karman/mae/seed0"]["deps"]) >= {"train/sol/karman/mse/seed0", "train/sr/karman/mae/seed0"}
    report = json.loads((out / "report.json").read_text())
    rows = report["sr/karman/pipe"]
    assert list(rows) == ["bicubic", "reference", "mse", "mae"]
    evaluated = json.loads((out / "cells/pipe/sr/karman/mae/seed0/evaluation/evaluation.json").read_text())
    fine = evaluated["grids"]["fine"]["rows"]
    assert rows["mae"]["values"]["mse"] == pytest.approx([np.mean(s) for s in fine["run+run"]["metrics"]["mse"]["per_simulation"]])
    assert rows["bicubic"]["values"]["mse"] == pytest.approx([np.mean(s) for s in fine["run+bicubic"]["metrics"]["mse"]["per_simulation"]])
    assert "verdicts/sr/karman/pipe" in report
    assert "## sr · karman · rollout: coarse + sol + SR" in (out / "report.md").read_text()
    assert (out / "figures" / "sr_karman_pipe_rollout.png").exists()


SHARED_TABLE, ROLLOUT_SOL = 'fine_from = "karman"\ncoarse = "8x4"', 'rollout_sol = "sol"'


@pytest.mark.parametrize("config, was, change, fragment", [
    (SHARED_FINE, SHARED_TABLE, 'fine_from = "nowhere"\ncoarse = "8x4"',
     "scenes.karman_4x.fine_from: name a scene table above it"),
    (SHARED_FINE, SHARED_TABLE, 'fine_from = "karman"\ncoarse = "16x8"', "coarse 16x8 is karman's own"),
    (SHARED_FINE, SHARED_TABLE, 'fine_from = "karman"\ncoarse = "8x8"', "must be coarse 8x8 times 2 or 4"),
    (SHARED_FINE, SHARED_TABLE, 'fine_from = "karman"\ncoarse = "8x4"\nframes = 3', "unknown key"),
    (PIPELINE, ROLLOUT_SOL, 'rollout_sol = "nosuch"', "tasks.sr.rollout_sol: 'nosuch' is not a SOL task of the study (sol)"),
    (PIPELINE, ROLLOUT_SOL, 'rollout_sol = "sr"', "tasks.sr.rollout_sol: 'sr' is not a SOL task"),
])
def test_a_bad_shared_table_or_rollout_sol_is_one_clear_line(env, tmp_path, config, was, change, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(config.replace(was, change))
    done = study(env, "plan", path, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr and fragment in done.stderr, done.stderr
