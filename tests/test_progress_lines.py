"""Long commands in a log file: real `fluidloss` processes whose stderr is a file (a study cell's log.txt, a
redirected run) write plain progress lines every FLUIDLOSS_PROGRESS_INTERVAL_S seconds (shortened here) and at each
task's end, never a live bar's escape codes; on a terminal the live bar stays."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from fluidloss_cli.commands.progress import INTERVAL_ENV, LoggedProgress

LINE = re.compile(r"^(?P<what>.+): (?P<percent>\d+)% \((?P<done>\d+)/(?P<total>\d+) (?P<unit>[\w ]+)\), "
                  r"(?P<elapsed>\d+:\d\d) elapsed(, ETA \d+:\d\d)?$")


def fluidloss(log: Path, *args, interval: str | None = "0.2") -> str:
    """Run `fluidloss ARGS` with stdout and stderr into `log` (no terminal); its text, the run asserted successful."""
    env = {k: v for k, v in os.environ.items() if k != INTERVAL_ENV}
    env |= {"OMP_NUM_THREADS": "1"} | ({INTERVAL_ENV: interval} if interval is not None else {})
    with log.open("w") as handle:
        done = subprocess.run([sys.executable, "-m", "fluidloss_cli", *map(str, args)], stdout=handle,
                              stderr=subprocess.STDOUT, env=env, timeout=600)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text and "━" not in text, "a live bar in a log file"
    return text


def progress(text: str, what: str) -> list[re.Match]:
    """The progress lines of the task whose description starts with `what`."""
    return [m for line in text.splitlines() if (m := LINE.match(line)) and m["what"].startswith(what)]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SimpleNamespace:
    """One karman simulation of 80 frames at 32x16 by PhiFlow (some seconds: several progress lines) and its 16x8
    downsampling, with the logs of both."""
    folder = tmp_path_factory.mktemp("progress")
    fine, coarse = folder / "k.h5", folder / "k8.h5"
    generated = fluidloss(folder / "generate.txt", "generate", "karman", "--res", "32x16", "--re", "1e5", "--warmup",
                          "0", "--frames", "80", "--solver", "phiflow", "--out", fine)
    downsampled = fluidloss(folder / "downsample.txt", "downsample", fine, "--res", "16x8", "--out", coarse,
                            interval=None)
    return SimpleNamespace(fine=fine, coarse=coarse, generated=generated, downsampled=downsampled)


def test_generate_in_a_log_file_reports_progress_as_it_goes_and_at_the_end(data):
    lines = progress(data.generated, "all simulations")
    assert len(lines) >= 3, data.generated  # lines while it ran, not only the end
    done = [int(m["done"]) for m in lines]
    assert done == sorted(set(done)) and done[-1] == 80, data.generated
    assert all(m["total"] == "80" and m["unit"] == "frames" for m in lines)
    assert lines[-1]["percent"] == "100" and lines[0]["percent"] != "100"
    assert any("ETA" in m.group(0) for m in lines[:-1]), "no time left estimated while it ran"
    assert progress(data.generated, "sim 0 Re=100000")[-1]["percent"] == "100"


def test_the_default_interval_prints_a_short_stage_once_at_its_end(data):
    lines = progress(data.downsampled, "downsampling")
    assert [(m["done"], m["total"], m["percent"]) for m in lines] == [("80", "80", "100")], data.downsampled
    assert data.downsampled.strip().splitlines()[-1].startswith("wrote ")


def test_training_in_a_log_file_shows_the_epoch_loss_and_samples(data, tmp_path):
    text = fluidloss(tmp_path / "train.txt", "train", "sr", "--coarse", data.coarse, "--fine", data.fine, "--out",
                     tmp_path / "run", "--width", "8", "--blocks", "1", "--batch-size", "2", "--epochs", "3",
                     "--device", "cpu", interval="0.05")
    lines = progress(text, "epoch ")
    assert len(lines) >= 3, text
    assert all(re.match(r"epoch [123]/3 loss [-\d.e]+$", m["what"]) and m["unit"] == "samples of 3 epochs"
               for m in lines)  # the count is the whole run's (it was read as the epoch's)
    assert {m["what"].split()[1] for m in lines} >= {"1/3", "3/3"}, text  # while the first epoch ran, and the last
    assert lines[-1]["percent"] == "100" and lines[-1]["done"] == lines[-1]["total"]
    assert text.count("samples/s") == 3  # the epoch lines, each once


def test_on_a_terminal_the_live_bar_stays_and_no_lines_are_printed():
    for terminal in (True, False):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=100)
        with LoggedProgress(console=console, interval=0) as bar:
            task = bar.add_task("stage", total=4, unit="frames")
            for _ in range(4):
                bar.advance(task)
        lines = progress(out.getvalue(), "stage")
        if terminal:
            assert bar.live.is_started is False and not lines and "\x1b" in out.getvalue()
        else:
            assert [m["done"] for m in lines] == ["1", "2", "3", "4"], out.getvalue()
