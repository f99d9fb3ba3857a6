"""Study configs and readers the study tests share: the tiny config, the smoke preset, `fluidloss study` in a
subprocess, and a study folder's results and report tables."""

import json
import subprocess
import sys
from pathlib import Path

from processes import ROOT

SMOKE = ROOT / "sample_configs" / "study_smoke.toml"


TINY = """
name = "tiny"
device = "cpu"
seeds = [0]
epochs = 1
batch_size = 4
losses = ["mse", "mae"]
metrics = "mse,mae,divergence"
[scenes.karman]
fine = "32x16"
coarse = "16x8"
frames = 8
train_re = [1e5, 4e5]
train_seeds = [0]
test_re = [2e5, 3e5]
test_seeds = [7]
[tasks.sr]
width = 8
blocks = 1
stride = 3
[tasks.ae]
width = 8
latent = 4
stride = 3
"""


def small_config(tasks: str, name: str = "tiny", losses: tuple[str, ...] = ("mse",), seeds: tuple[int, ...] = (0,),
                 batch_size: int = 4, frames: int = 8) -> str:
    """A study config of one small Karman scene (32x16 fine, 16x8 coarse, one training and one test simulation) on
    the CPU, 1 epoch, scored by MSE, followed by the `[tasks.*]` sections `tasks`."""
    return f"""
name = "{name}"
device = "cpu"
seeds = {list(seeds)}
epochs = 1
batch_size = {batch_size}
losses = {json.dumps(list(losses))}
metrics = "mse"
[scenes.karman]
fine = "32x16"
coarse = "16x8"
frames = {frames}
train_re = [1e5]
train_seeds = [0]
test_re = [2e5]
test_seeds = [7]
{tasks}"""


RESUMED = TINY.replace("epochs = 1", "epochs = 3").replace('losses = ["mse", "mae"]', 'losses = ["mse"]').split(
    "[tasks.sr]")[0] + "[tasks.sol]\nunroll = 1\nwidth = 8\nblocks = 1\nstart = [1]\nsteps = 4\n"


def study(env: dict, *args, check: bool = True) -> subprocess.CompletedProcess:
    """Run `fluidloss study ARGS` in a subprocess."""
    done = subprocess.run([sys.executable, "-m", "fluidloss_cli", "study", *map(str, args)], env=env,
                          capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def tables(report: Path) -> dict[str, list[list[str]]]:
    """The markdown tables of a report by section heading (`task · scene`), each a list of rows of cells."""
    found, heading = {}, None
    for line in report.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:]
        elif line.startswith("|") and heading and heading != "Cells":
            found.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return found


def results(out: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(out / "cells")): json.loads(p.read_text())
            for p in (out / "cells").rglob("result.json")}


def value_tables(out: Path) -> dict:
    return tables(out / "report.md")
