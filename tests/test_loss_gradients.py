"""benchmarks/loss_gradients.py, the weight of a weighted sum from gradient norms at initialisation: set up as
`train TASK` sets the task up, on real data, its ratios exact where they are known (4*mse pulls 4x as hard as mse)."""

import os
import subprocess
import sys

import pytest

from conftest import run_cli
from processes import ROOT

SCRIPT = ROOT / "benchmarks" / "loss_gradients.py"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gradients")
    fine, coarse = folder / "k32.h5", folder / "k16.h5"
    run_cli("generate", "karman", "--res", "32x16", "--re", "1e5", "2e5", "--frames", "8", "--warmup", "0",
            "--out", fine)
    run_cli("downsample", fine, "--res", "16x8", "--out", coarse)
    return coarse, fine


def table(*args) -> dict[str, list[str]]:
    """The script's table: loss -> its columns (value, |grad|, ratio to mse[, W])."""
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines[2:]}


@pytest.mark.parametrize("task, options", [
    ("sr", ["--option", "coarse={coarse}", "--option", "fine={fine}", "--option", "width=8", "--option", "blocks=1"]),
    ("ae", ["--option", "data={fine}", "--option", "model=ae-dense", "--option", "latent=4", "--option", "width=8"]),
    ("sol", ["--option", "data={coarse}", "--option", "unroll=2", "--option", "width=8", "--option", "blocks=1"]),
])
def test_a_scaled_loss_has_the_scaled_gradient_and_the_inverse_weight(pair, task, options):
    coarse, fine = pair
    found = table(task, *[o.format(coarse=coarse, fine=fine) for o in options], "--losses", "mse", "4*mse", "mae",
                  "--batches", "2")
    assert float(found["mse"][2]) == 1 and float(found["4*mse"][2]) == pytest.approx(4, rel=1e-3)
    assert float(found["4*mse"][0]) == pytest.approx(4 * float(found["mse"][0]), rel=1e-3)
    assert float(found["4*mse"][3]) == 0.2  # 1/4 to one significant digit
    assert float(found["mae"][1]) > 0 and float(found["mae"][2]) != pytest.approx(1, rel=1e-2)
