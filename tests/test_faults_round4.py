"""Fault injection, fourth round (issue 34): tracebacks where one line was expected, refusals that came only after
work, and the questionable cases decided in docs/reliability.md. Datasets and study folders are made by the real CLI;
read-only folders are real (a read-only tmpfs where the tests run as root, whom chmod does not stop)."""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import assert_one_line_error, run_cli
from studies import small_config

pytestmark = pytest.mark.usefixtures("one_thread")

SMOKE = "sample_configs/study_smoke.toml"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """karman 32x16 (8 frames, no warm-up) and its 16x8 downsampling."""
    folder = tmp_path_factory.mktemp("round4")
    d = SimpleNamespace(folder=folder, fine=folder / "k.h5", coarse=folder / "k16.h5")
    run_cli("generate", "karman", "--res", "32x16", "--re", "1e5", "--warmup", "0", "--frames", "8", "--out", d.fine)
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


TINY = small_config("[tasks.ae]\nwidth = 8\nlatent = 4\nstride = 3\n")


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


@pytest.mark.parametrize("args, options", [
    (["train", "sol", "--data", "{coarse}", "--unroll", "1", "--width", "100000"],
     "--width 100000 --blocks 2 --kernel-size 5: training the sol network needs about"),
    (["train", "ae", "--data", "{coarse}", "--latent", "100000000"], "--width 32 --latent 100000000: training the ae"),
    (["train", "sr", "--coarse", "{coarse}", "--fine", "{fine}", "--width", "100000"], "--width 100000 --blocks 4:"),
])
def test_a_network_too_large_for_memory_is_refused_with_its_estimate(data, tmp_path, args, options):
    """Before: an allocation failure inside torch (ae: while describing the task, before any check)."""
    run = tmp_path / "run"
    result = run_cli(*(a.format(coarse=data.coarse, fine=data.fine) for a in args), "--batch-size", "4", "--epochs",
                     "1", "--device", "cpu", "--out", run, ok=False)
    assert_one_line_error(result, options, "GiB for its", "weights with their gradients and Adam's moments",
                          "GiB available")
    assert not run.exists()


def test_generate_beyond_the_memory_this_process_may_take_is_refused_up_front(tmp_path):
    """`--res 8192x8192` needs some 15 GiB; under a 10 GiB address-space limit (ulimit -v) it was an allocation
    failure in the first step, as it was on a machine whose memory other jobs held."""
    limit = 10 * 2**30
    out = tmp_path / "b.h5"
    done = subprocess.run([sys.executable, "-m", "fluidloss_cli", "generate", "buoyancy", "--res", "8192x8192",
                           "--frames", "2", "--warmup", "0", "--out", str(out)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: --res 8192x8192: one buoyancy simulation needs about 15.0 GiB of memory")
    assert done.stderr.count("\n") == 1 and "GiB available" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_outputs_larger_than_the_free_disk_are_refused_before_any_step(data, tmp_path, small_disk):
    """Before: `generate --frames 1000000000` and `simulate --steps ...` started (the ETA said thousands of hours)
    and stopped only at the frame that met the full disk."""
    result = run_cli("generate", "karman", "--res", "32x16", "--frames", "1000000000", "--out", tmp_path / "k.h5",
                     ok=False)
    assert_one_line_error(result, "--frames 1000000000 (8 simulation(s) at 32x16) needs at least",
                          "GiB of disk", f"{tmp_path} has")
    result = run_cli("generate", "karman", "--res", "32x16", "--re", "1e5", "--frames", "2000", "--out",
                     small_disk / "k.h5", ok=False)
    assert_one_line_error(result, "--frames 2000 (1 simulation(s) at 32x16) needs at least", f"{small_disk} has")
    result = run_cli("simulate", "karman", "--re", "1e5", "--steps", "1000000000", "--out", tmp_path / "s.h5",
                     "--device", "cpu", ok=False)
    assert_one_line_error(result, "--steps 1000000000: a rollout of 1000000001 frames needs about",
                          "(its frames are held in memory until written)")
    run_cli("simulate", "karman", "--from", data.coarse, "--steps", "6", "--out", small_disk / "s.h5", "--device",
            "cpu")  # small enough: written
    kept = (small_disk / "s.h5").read_bytes()
    result = run_cli("simulate", "karman", "--re", "1e5", "--res", "128x64", "--steps", "2000", "--out",
                     small_disk / "s.h5", "--overwrite", "--device", "cpu", ok=False)
    assert_one_line_error(result, f"--steps 2000: {small_disk / 's.h5'} needs at least", f"{small_disk} has")
    assert (small_disk / "s.h5").read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk"] and sorted(p.name for p in small_disk.iterdir()) == ["s.h5"]


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


# --- 9: questionable cases, decided in docs/reliability.md ----------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["benchmark", "--data", "{coarse}", "--res", "16x8", "--frontier", ""], "--frontier: resolution '' is malformed"),
    (["benchmark", "--data", "{coarse}", "--res", "16x8", "--frontier", "12x6,"], "--frontier: resolution ''"),
    (["benchmark", "--data", "{coarse}", "--res", "", "--sol", "{coarse}"], "--res: resolution '' is malformed"),
    (["generate", "karman", "--res", "", "--out", "{out}/k.h5"], "--res: resolution '' is malformed"),  # was default
    (["simulate", "karman", "--res", "", "--re", "1e5", "--out", "{out}/s.h5"], "--res: resolution ''"),
    (["simulate", "karman", "--from", "{coarse}", "--sim", "", "--out", "{out}/s.h5"], "no simulation '' (it holds"),
    (["downsample", "{fine}", "--res", "2x2", "--out", "{out}/d.h5"], "--res: resolution '2x2' is too small"),
])
def test_an_empty_or_bad_value_names_its_option_and_is_never_the_default(data, tmp_path, args, fragment):
    """Before: `--frontier ''` said only "resolution '' is malformed"; `generate --res ''` generated the default
    128x64 dataset (minutes, 640 MB) and `simulate --sim ''` started from the first simulation."""
    result = run_cli(*(a.format(coarse=data.coarse, fine=data.fine, out=tmp_path) for a in args), ok=False)
    assert_one_line_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options, fragment", [
    (["--time", "12h"], "--time '12h': expected a Slurm time limit: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS"),
    (["--time", "1:2:3:4"], "--time '1:2:3:4': expected a Slurm time limit"),
    (["--mem", "16GB"], "--mem '16GB': expected a size in megabytes or with a unit K, M, G or T"),
    (["--partition", ""], "--partition '': expected a partition name"),
    (["--sbatch-arg="], "--sbatch-arg '': expected one sbatch option on one line"),
    (["--sbatch-arg", "account=abc"], "--sbatch-arg 'account=abc': expected one sbatch option"),
])
def test_slurm_resources_that_sbatch_would_refuse_are_refused_before_any_script(tmp_path, options, fragment):
    """Before: written as they were into every job script (an empty --sbatch-arg as a blank `#SBATCH ''` line), to be
    refused by sbatch at the first job, after plan.json and the scripts were written."""
    out = tmp_path / "study"
    for dry in ([], ["--dry-run"]):
        assert_one_line_error(run_cli("study", "submit", SMOKE, "--out", out, *options, *dry, ok=False), fragment)
    assert not out.exists()


@pytest.mark.parametrize("table, fragment", [
    ('time = "2 hours"', "slurm.time '2 hours': expected a Slurm time limit"),
    ('sbatch_args = [""]', "slurm.sbatch_args '': expected one sbatch option on one line"),
])
def test_a_config_slurm_table_is_checked_when_the_study_is_planned(tmp_path, table, fragment):
    config = tmp_path / "tiny.toml"
    config.write_text(f"{TINY}\n[slurm]\n{table}\n")
    assert_one_line_error(run_cli("study", "plan", config, "--no-probe", ok=False), f"{config}: {fragment}")
    config.write_text(f'{TINY}\n[slurm]\ntime = "1-12:00:00"\nmem = "500M"\nsbatch_args = ["--account=abc"]\n')
    assert "#SBATCH --time=1-12:00:00" in run_cli("study", "submit", config, "--out", tmp_path / "s", "--dry-run").output


@pytest.mark.parametrize("line, fragment", [
    ('normalize = "yes"', "normalize must be true or false (a TOML boolean), got 'yes'"),  # read as true before
    ('normalize = "no"', "normalize must be true or false (a TOML boolean), got 'no'"),
    ("normalize = 1", "normalize must be true or false (a TOML boolean), got 1"),
    ("width = true", "width = true: only on/off options take true or false"),  # trained a width-1 network before
])
def test_a_config_value_of_an_on_off_option_must_be_a_toml_boolean(data, tmp_path, line, fragment):
    config = tmp_path / "sol.toml"
    config.write_text(f"{line}\n")
    run = tmp_path / "run"
    result = run_cli("train", "sol", "--data", data.coarse, "--out", run, "--config", config, ok=False)
    assert_one_line_error(result, f"config file {config}: {fragment}")
    assert not run.exists()


def test_a_dry_run_onto_another_configs_study_is_refused_as_the_real_run_is(tmp_path):
    """Before: `study submit --dry-run` described the other study's cells as this one's (finished or not)."""
    out = tmp_path / "study"
    out.mkdir()
    (out / "plan.json").write_text('{"name": "other", "digest": "0123456789abcdef", "cells": []}')
    before = files_of(out)
    real = run_cli("study", "run", SMOKE, "--out", out, ok=False)  # a warning on its one seed comes first
    line = real.output.splitlines()[-1]
    assert real.exit_code == 2 and "Traceback" not in real.output
    assert line.startswith(f"error: {out} holds the study of another config (other, digest 0123456789abcdef, this one")
    for dry in (["--dry-run"], []):
        assert_one_line_error(run_cli("study", "submit", SMOKE, "--out", out, *dry, ok=False), line[len("error: "):])
    assert files_of(out) == before


def test_downsample_refuses_a_dataset_of_an_unknown_scene_as_train_does(data, tmp_path):
    """Before: the copy was written, then `train sol` refused it (the scene's geometry is looked up by name)."""
    import h5py

    for source, name in ((data.fine, "fine.h5"), (data.coarse, "coarse.h5")):
        shutil.copy(source, tmp_path / name)
        with h5py.File(tmp_path / name, "r+") as handle:
            handle.attrs["scene"] = "vortex"
    trained = run_cli("train", "sol", "--data", tmp_path / "coarse.h5", "--unroll", "1", "--batch-size", "2",
                      "--val-split", "0.3", "--epochs", "1", "--device", "cpu", "--out", tmp_path / "run", ok=False)
    assert_one_line_error(trained, "unknown scene 'vortex': choose one of karman, buoyancy")
    result = run_cli("downsample", tmp_path / "fine.h5", "--res", "16x8", "--out", tmp_path / "d.h5", ok=False)
    assert result.output == trained.output and result.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coarse.h5", "fine.h5"]


def test_a_render_onto_a_full_disk_says_the_rollout_was_written_completely(data, small_disk):
    """Before: a traceback (exit 1) from PIL with the complete rollout left unmentioned and the first PNG frames
    beside it; the rollout is kept, the error says so, and no partial render is left."""
    import h5py

    out, frames = small_disk / "s.h5", small_disk / "frames"
    result = run_cli("simulate", "karman", "--from", data.coarse, "--steps", "6", "--out", out, "--render", frames,
                     "--device", "cpu", ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output  # after the rollout's progress line
    assert result.output.splitlines()[-1] == f"error: disk full while writing {frames}; {out} was written " \
                                             "completely, only the render failed"
    assert list(frames.iterdir()) == []
    with h5py.File(out, "r") as handle:  # the rollout is whole: the start frame and its 6 steps
        assert handle["sim_0000"]["velocity_x"].shape[0] == 7


def test_weights_import_refuses_where_a_damaged_copy_would_still_be_read_first(weights_env):
    """Before: `installed` into the user cache, while the damaged LSiM.pth of FLUIDLOSS_WEIGHTS_DIR, read first, kept
    failing every command that loads LSiM."""
    official = weights_env.weights / "LSiM.pth"
    source = official.resolve()
    official.unlink()
    official.write_bytes(source.read_bytes()[:5000])  # a truncated copy
    installed = weights_env.cache / "fluidloss" / "weights" / "LSiM.pth"
    result = run_cli("weights", "import", "lsim", source, ok=False)
    assert_one_line_error(result, f"{official} is read before the user cache (FLUIDLOSS_WEIGHTS_DIR) and differs from "
                                  f"{source}: replace or remove it, or unset FLUIDLOSS_WEIGHTS_DIR; nothing was installed")
    assert not installed.exists()
    official.write_bytes(source.read_bytes())  # the same file there: the import is harmless, and done
    assert f"installed LSiM weights: {installed}" in run_cli("weights", "import", "lsim", source).output
    assert installed.read_bytes() == source.read_bytes()


def test_weights_download_refuses_where_a_damaged_copy_would_still_be_read_first(weights_env):
    """The same for `weights download`, refused before any download: only the official file is ever installed, so a
    copy in FLUIDLOSS_WEIGHTS_DIR that is not it would shadow the download."""
    official = weights_env.weights / "LSiM.pth"
    source = official.resolve()
    mirror = f"file://{source.parent}"
    official.unlink()
    official.write_bytes(source.read_bytes()[:5000])
    installed = weights_env.cache / "fluidloss" / "weights" / "LSiM.pth"
    result = run_cli("weights", "download", "lsim", "--mirror", mirror, ok=False)
    assert_one_line_error(result, f"{official} is read before the user cache (FLUIDLOSS_WEIGHTS_DIR) and is not the "
                                  "official file", "nothing was downloaded")
    assert not installed.exists()
    official.unlink()  # gone: the download installs the official file
    assert f"downloaded LSiM weights: {installed}" in run_cli("weights", "download", "lsim", "--mirror", mirror).output
    assert installed.read_bytes() == source.read_bytes()
    installed.write_bytes(source.read_bytes()[:5000])  # damaged in the user cache: replaced by the next download
    assert "downloaded" in run_cli("weights", "download", "lsim", "--mirror", mirror).output
    assert installed.read_bytes() == source.read_bytes()
    assert "lsim is already present" in run_cli("weights", "download", "lsim", "--mirror", mirror).output


def test_a_finished_cell_whose_output_was_deleted_is_redone_by_study_run(study, tmp_path):
    """Before: a training cell without its best.pt and a data cell without its data.h5 counted as done (only an
    evaluation without its file was redone). Now each is redone; what depends on them is kept, as the redone files
    are the same (seeded generation is bit-identical, a seeded CPU training reproduces its model)."""
    import h5py
    import numpy as np
    import torch

    out = tmp_path / "study"
    shutil.copytree(study.out, out)
    best, data = (out / "cells" / cell for cell in ("train/ae/karman/mse/seed0/run/best.pt",
                                                    "data/karman/test-fine/data.h5"))
    best.unlink()
    data.unlink()
    done = run_cli("study", "run", out / "study.toml", "--out", out)
    assert "2 cell(s) ran, 0 skipped, 4 were finished before" in done.output
    assert "train/ae/karman/mse/seed0: done" in done.output and "data/karman/test-fine: done" in done.output
    with h5py.File(data, "r") as again, h5py.File(study.out / data.relative_to(out), "r") as first:
        fields = [f"{sim}/{name}" for sim in first for name in first[sim]]  # the frames (not the timings)
        assert fields and all(np.array_equal(again[f][()], first[f][()]) for f in fields)
    models = [torch.load(path, map_location="cpu", weights_only=False)["model"]["state"] for path in
              (best, study.out / best.relative_to(out))]
    assert models[0].keys() == models[1].keys() and all(torch.equal(models[0][k], models[1][k]) for k in models[0])
