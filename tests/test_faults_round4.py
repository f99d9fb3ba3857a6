"""Fault injection, fourth round (issue 34): tracebacks where one line was expected, refusals that came only after
work, and the questionable cases decided in docs/reliability.md. Datasets and study folders are made by the real CLI;
read-only folders are real (a read-only tmpfs where the tests run as root, whom chmod does not stop)."""

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

SMOKE = "sample_configs/study_smoke.toml"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16 (6 frames, no warm-up) and its 16x8 downsampling."""
    folder = tmp_path_factory.mktemp("round4")
    d = SimpleNamespace(folder=folder, fine=folder / "k.h5", coarse=folder / "k16.h5")
    run_cli("generate", "karman", "--res", "32x16", "--re", "1e5", "--warmup", "0", "--frames", "6", "--out", d.fine)
    run_cli("downsample", d.fine, "--res", "16x8", "--out", d.coarse)
    return d


def read_only(folder: Path) -> Path:
    """`folder` made read-only for this process: chmod for a user, a read-only tmpfs mounted on it for root (whom
    chmod does not stop); skip where neither works. Unmount with `release`."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
    elif subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(folder)],
                        capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    return folder


def release(folder: Path) -> None:
    """Undo `read_only`."""
    if os.geteuid() != 0:
        folder.chmod(0o755)
    else:
        subprocess.run(["umount", str(folder)], check=True)


# --- 5: tracebacks where one line was expected ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["downsample", "{loop}", "--res", "16x8", "--out", "{out}/o.h5"],
    ["train", "ae", "--data", "{loop}", "--latent", "4", "--width", "8", "--out", "{out}/run"],
    ["train", "sol", "--data", "{coarse}", "--val", "{loop}", "--out", "{out}/run"],  # was Path.resolve's RuntimeError
    ["evaluate", "rollout", "--data", "{coarse}", "--sol", "{loop}", "--out", "{out}/e"],
    ["evaluate", "pair", "{loop}:sim_0000:1", "{coarse}:sim_0000:2"],
    ["simulate", "karman", "--from", "{loop}", "--steps", "2", "--out", "{out}/s.h5"],
    ["train", "ae", "--config", "{loop}"],  # was an OSError traceback
    ["study", "plan", "{loop}", "--no-probe"],
])
def test_an_input_that_is_a_link_to_itself_is_one_line(data, tmp_path, args):
    loop = tmp_path / "loop.h5"
    loop.symlink_to(loop.name)
    result = run_cli(*(a.format(loop=loop, coarse=data.coarse, out=tmp_path) for a in args), ok=False)
    assert f"{loop} is a symbolic link that loops back to itself" in result.output
    assert result.exit_code == 2 and "Traceback" not in result.output and result.output.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.h5"]


@pytest.mark.parametrize("args", [
    ["downsample", "{fine}", "--res", "16x8", "--out", "{loop}"],  # was Path.resolve's RuntimeError
    ["generate", "karman", "--res", "32x16", "--frames", "3", "--out", "{loop}"],  # replaced the link silently
    ["study", "run", SMOKE, "--out", "{loop}"],
    ["study", "export", "{folder}", "{loop}"],
])
def test_an_output_that_is_a_link_to_itself_is_refused(data, tmp_path, args):
    loop = tmp_path / "loop"
    loop.symlink_to(loop.name)
    result = run_cli(*(a.format(loop=loop, fine=data.fine, folder=tmp_path) for a in args), ok=False)
    assert_one_line_error(result, f"cannot write {loop}: {loop} is a symbolic link that loops back to itself")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop"] and loop.is_symlink()


@pytest.mark.parametrize("args", [
    ["study", "plan", "{config}", "--no-probe"],
    ["study", "run", "{config}", "--out", "{out}"],
    ["study", "submit", "{config}", "--out", "{out}", "--dry-run"],
    ["train", "ae", "--config", "{config}"],
    ["generate", "karman", "--config", "{config}"],
])
def test_a_binary_config_file_is_one_line(tmp_path, args):
    config = tmp_path / "config.toml"
    config.write_bytes(bytes(range(128, 256)) + b'name = "x"\n')
    result = run_cli(*(a.format(config=config, out=tmp_path / "out") for a in args), ok=False)
    assert_one_line_error(result, f"{config}: ", "config file is not UTF-8 text (byte 0 is 0x80)" if "--config" in args
                          else "study config is not UTF-8 text (byte 0 is 0x80)")
    assert not (tmp_path / "out").exists()


TINY = """name = "tiny"
device = "cpu"
seeds = [0]
epochs = 1
batch_size = 4
losses = ["mse"]
metrics = "mse"

[scenes.karman]
fine = "32x16"
coarse = "16x8"
frames = 8
train_re = [1e5]
train_seeds = [0]
test_re = [2e5]
test_seeds = [7]

[tasks.ae]
width = 8
latent = 4
stride = 3
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> SimpleNamespace:
    """A finished study of one autoencoder (some 30 s on two busy cores) and its config; tests copy it to change it."""
    folder = tmp_path_factory.mktemp("study")
    s = SimpleNamespace(config=folder / "tiny.toml", out=folder / "study")
    s.config.write_text(TINY)
    run_cli("study", "run", s.config, "--out", s.out)
    return s


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative name -> content), to show that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_study_submit_into_a_read_only_folder_is_one_line(tmp_path):
    """Before: a traceback from removing a temporary file that the read-only file system never let exist."""
    folder = read_only(tmp_path / "ro")
    try:
        for out in (folder, folder / "new"):
            result = run_cli("study", "submit", SMOKE, "--out", out, ok=False)
            assert_one_line_error(result, f"cannot write {out}: directory {folder} is not writable")
        assert list(folder.iterdir()) == []
    finally:
        release(folder)


def test_study_export_into_a_read_only_folder_is_one_line(study, tmp_path):
    """Before: a read-only folder inside the destination (here its cells/) was a mkdir traceback."""
    destination = tmp_path / "export"
    assert_one_line_error(run_cli("study", "export", study.out, "/proc/export", ok=False),
                          "cannot write /proc/export: directory /proc is not writable")
    cells = read_only(destination / "cells")
    try:
        result = run_cli("study", "export", study.out, destination, ok=False)
        assert_one_line_error(result, "while writing", str(cells))
        assert sorted(p.name for p in destination.iterdir()) == ["cells"]
    finally:
        release(cells)


def test_a_finished_evaluation_without_its_file_is_one_line_and_study_run_redoes_it(study, tmp_path):
    """Before: `study report` raised FileNotFoundError; `study run` took the cell as finished and did the same."""
    out = tmp_path / "study"
    shutil.copytree(study.out, out)
    cell = "eval/ae/karman/mse/seed0"
    (out / "cells" / cell / "evaluation" / "frames.json").unlink()
    result = run_cli("study", "report", out, ok=False)
    assert_one_line_error(result, f"{cell} is recorded as done, but {out}/cells/{cell}/evaluation holds no "
                                  f"evaluation.json or frames.json: rerun `fluidloss study run {out}/study.toml --out {out}`")
    done = run_cli("study", "run", out / "study.toml", "--out", out)  # the advice, as given
    assert "1 cell(s) ran" in done.output and f"{cell}: done" in done.output
    assert (out / "cells" / cell / "evaluation" / "frames.json").is_file()
    rows = [[line for line in (folder / "report.md").read_text().splitlines() if line.startswith("| mse |")]
            for folder in (study.out, out)]
    assert rows[0] and rows[1] == rows[0]  # the model evaluated again: the same values in the report


# --- 6: refused only after doing work -------------------------------------------------------------------------------

def test_study_submit_without_sbatch_writes_nothing(tmp_path, monkeypatch):
    """Before: plan.json, study.toml and slurm/ were written first, tying the folder to the config, then sbatch was
    not found."""
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no sbatch on it
    out = tmp_path / "study"
    result = run_cli("study", "submit", SMOKE, "--out", out, ok=False)
    assert_one_line_error(result, "sbatch is not on the PATH", "--dry-run", "nothing was written")
    assert not out.exists()
    assert "#SBATCH" in run_cli("study", "submit", SMOKE, "--out", out, "--dry-run").output and not out.exists()


def test_study_export_checks_its_patterns_and_destination_before_copying(study, tmp_path):
    """Before: a pattern that matched no model was refused after every other file had been copied; an export into
    the study folder itself or onto another study's export went ahead."""
    before = files_of(study.out)
    destination = tmp_path / "export"
    result = run_cli("study", "export", study.out, destination, "--checkpoints", "ae/*", "--checkpoints", "gan/*",
                     ok=False)
    assert_one_line_error(result, "--checkpoints 'gan/*' matches no training cell (e.g. ae/karman/mse/seed0)")
    assert not destination.exists() and not Path(f"{destination}.lock").exists()
    for inner in (study.out, study.out / "published", study.out.parent):
        assert_one_line_error(run_cli("study", "export", study.out, inner, ok=False),
                              f"cannot export {study.out} into {inner}: neither folder may lie inside the other")
    other = tmp_path / "other"
    other.mkdir()
    (other / "plan.json").write_text('{"name": "other", "digest": "0123456789abcdef", "cells": []}')
    assert_one_line_error(run_cli("study", "export", study.out, other, ok=False),
                          f"{other} holds another study (other, digest 0123456789abcdef")
    assert sorted(p.name for p in other.iterdir()) == ["plan.json"] and files_of(study.out) == before
    run_cli("study", "export", study.out, destination, "--checkpoints", "ae/*")
    run_cli("study", "export", study.out, destination)  # onto an export of the same study: its files are replaced
    assert (destination / "checkpoints" / "ae_mse_seed0.pt").is_file()
