"""Fault injection, continued: one writer per output for every command that writes, Ctrl-C or SIGTERM during
`downsample`, and a signal to the whole process group of `generate --workers`. Processes are real (`python -m fluidloss_cli`), datasets are made by the CLI, signals are sent once a
run is seen writing (its temporary file beside the output)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import pytest

from conftest import assert_one_line_error, run_cli
from processes import DEADLINE, KARMAN, children, running, start, temporaries, wait_until
from fluidloss_cli.engine import interrupt
from fluidloss_cli.engine.lock import output_lock

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fine(tmp_path_factory) -> SimpleNamespace:
    """karman 128x64, 400 frames, no warm-up: large enough that a downsampling of it is seen while it writes, and
    the 8-frame karman 32x16 the quick tests read."""
    folder = tmp_path_factory.mktemp("writers")
    d = SimpleNamespace(big=folder / "big.h5", small=folder / "small.h5")
    run_cli("generate", "karman", "--res", "128x64", "--re", "1e5", "--warmup", "0", "--frames", "400", "--out", d.big)
    run_cli(*KARMAN, "--re", "1e5", "--frames", "8", "--out", d.small)
    return d


def writing(out: Path) -> bool:
    """Whether a run is writing `out`: its temporary file exists beside it."""
    return any(out.parent.glob(f"{out.name}.*.tmp"))


def resolution(path: Path) -> list[int]:
    with h5py.File(path) as handle:
        return [int(n) for n in handle.attrs["resolution"]]


def test_a_second_downsample_into_the_same_output_stops_at_once(fine, tmp_path):
    """Before: both runs exited 0 and the output held whichever finished last."""
    out = tmp_path / "d.h5"
    first = start("downsample", fine.big, "--res", "64x32", "--out", out)
    try:
        wait_until(lambda: writing(out), "the first run to write", first)
        first.send_signal(signal.SIGSTOP)  # frozen mid-write, its lock held
        for extra in ([], ["--overwrite"]):
            assert_one_line_error(run_cli("downsample", fine.big, "--res", "32x16", "--out", out, *extra, ok=False),
                                  f"{out} is being written by another fluidloss run (pid {first.pid})")
        assert not out.exists() and writing(out)
    finally:
        first.send_signal(signal.SIGCONT)
    output = first.communicate(timeout=DEADLINE)[0].decode()
    assert first.returncode == 0, output
    assert resolution(out) == [64, 32] and temporaries(tmp_path) == []
    assert_one_line_error(run_cli("downsample", fine.big, "--res", "32x16", "--out", out, ok=False),
                          f"{out} exists: pass --overwrite to replace it")
    run_cli("downsample", fine.big, "--res", "32x16", "--out", out, "--overwrite")
    assert resolution(out) == [32, 16] and temporaries(tmp_path) == []


def holds_lock(out: Path, process) -> bool:
    """Whether `process` holds the lock of `out` (its pid written in OUT.lock)."""
    try:
        return Path(f"{out}.lock").read_text().strip() == str(process.pid)
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("command", ["downsample", "simulate", "benchmark", "evaluate"])
def test_every_command_that_writes_holds_its_output_while_it_runs(fine, tmp_path, command):
    """Each run takes its output's lock for its whole length: a second run on the output, frozen or not, stops with
    one line and writes nothing; the first completes. Before: only generate and train took it."""
    out = tmp_path / {"benchmark": "b.json", "evaluate": "e"}.get(command, "o.h5")
    args = {
        "evaluate": ["evaluate", "rollout", "--data", fine.big, "--steps", "30", "--metrics", "mse", "--device", "cpu",
                     "--out", out],
        "downsample": ["downsample", fine.big, "--res", "32x16", "--out", out],
        "simulate": ["simulate", "karman", "--from", fine.big, "--steps", "40", "--device", "cpu", "--out", out],
        "benchmark": ["benchmark", "--data", fine.big, "--res", "32x16", "--steps", "20", "--repeats", "2",
                      "--metrics", "mse", "--device", "cpu", "--out", out],
    }[command]
    first = start(*args)
    try:
        wait_until(lambda: holds_lock(out, first), "the first run to take the lock", first)
        first.send_signal(signal.SIGSTOP)
        for extra in ([], ["--overwrite"]) if command != "benchmark" else ([],):
            assert_one_line_error(run_cli(*args, *extra, ok=False),
                                  f"{out} is being written by another fluidloss run (pid {first.pid})")
        assert not out.exists() or not any(out.iterdir())
    finally:
        first.send_signal(signal.SIGCONT)
    output = first.communicate(timeout=DEADLINE)[0].decode()
    assert first.returncode == 0 and "Traceback" not in output, output
    assert out.exists() and temporaries(tmp_path) == []


def test_study_export_refuses_a_destination_that_another_run_writes(tmp_path):
    destination = tmp_path / "export"
    with output_lock(destination):  # held by a live run: this process
        assert_one_line_error(run_cli("study", "export", tmp_path / "study", destination, ok=False),
                              f"{destination} is being written by another fluidloss run (pid {os.getpid()})")
    assert not destination.exists()


@pytest.mark.parametrize("sent, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_stops_downsample_and_leaves_no_output(fine, tmp_path, sent, code, word):
    """Before: in some tries the signal was swallowed inside HDF5's callbacks and the run went on, wrote the file and
    exited 0. Three tries each, the signal sent as soon as the run writes."""
    for attempt in range(3):
        out = tmp_path / f"d{attempt}.h5"
        process = start("downsample", fine.big, "--res", "32x16", "--out", out)
        wait_until(lambda: writing(out), "the run to write", process)
        sent_at = time.monotonic()
        process.send_signal(sent)
        output = process.communicate(timeout=DEADLINE)[0].decode()
        assert time.monotonic() - sent_at < 30, "the run did not stop promptly"
        assert process.returncode == code and "Traceback" not in output, output
        assert output.strip().splitlines()[-1] == (f"{word}: nothing was written (the output appears only when "
                                                   "complete); rerun the command"), output
        assert not out.exists() and temporaries(tmp_path) == []


def test_an_interrupt_that_h5py_wraps_in_its_own_error_ends_the_run_as_the_interrupt(fine, tmp_path, monkeypatch):
    """A SIGTERM that lands in h5py's attribute-iteration callback comes out of h5py as a SystemError whose cause is
    the interrupt (seen once in the test above, on a loaded machine): it ends the run as the interrupt does. Injected
    here where h5py iterates a dataset's attributes, as that run met it."""
    def interrupted_iteration(self):
        try:
            raise interrupt.Terminated
        except interrupt.Terminated as exc:
            raise SystemError("<cyfunction FastRLock.__exit__> returned a result with an exception set") from exc

    out = tmp_path / "d.h5"
    with monkeypatch.context() as patch:
        patch.setattr(h5py.AttributeManager, "__iter__", interrupted_iteration)
        result = run_cli("downsample", fine.small, "--res", "16x8", "--out", out, ok=False)
    assert result.exit_code == 143 and "Traceback" not in result.output, result.output
    assert result.output.strip().splitlines()[-1].startswith("terminated: nothing was written"), result.output
    assert not out.exists() and temporaries(tmp_path) == []
    assert interrupt.cause(ValueError("unrelated")) is None


@pytest.mark.slow
@pytest.mark.parametrize("sent, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_to_the_process_group_of_generate_leaves_only_the_parents_line(tmp_path, sent, code, word):
    """A terminal's Ctrl-C, or `kill -TERM -PGID`, reaches the workers too; three workers for two simulations leave
    one idle. Before: each idle worker printed a `Terminated` traceback. Now the parent alone reports."""
    parts = tmp_path / "g.h5.parts"
    process = start(*KARMAN, "--re", "1e5", "2e5", "--frames", "5000", "--workers", "3", "--out", tmp_path / "g.h5")
    wait_until(lambda: len(list(parts.glob("*.tmp"))) == 2, "both busy workers to write", process)
    workers = children(process.pid)
    assert len(workers) == 3  # forked all at once: one has no simulation
    os.killpg(process.pid, sent)  # `start` made the run a process group of its own
    output = process.communicate(timeout=DEADLINE)[0].decode()
    assert process.returncode == code and "Traceback" not in output and "Terminated" not in output, output
    assert output.strip().splitlines()[-1] == f"{word}: finished work was kept; rerun with --resume to complete it"
    wait_until(lambda: not any(running(pid) for pid in workers), "the workers to exit")
    wait_until(lambda: temporaries(tmp_path) == [], "the workers to remove their temporaries")


SWALLOWED = """
import os, signal, sys, time
from fluidloss_cli.engine.data import workers

def slow_hook(unraisable):  # stands for the default hook, which may be running when the parent's SIGTERM comes
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(200):
        time.sleep(0.001)

if {in_hook}:
    sys.unraisablehook = slow_hook
workers.orphan_guard(os.getppid())

class Swallowed:
    def __del__(self):  # Python swallows what is raised here
        if {in_hook}:
            raise ValueError("unraisable")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)

def work():
    try:
        Swallowed()
        time.sleep(5)
        print("the simulation went on", flush=True)
    finally:
        print("unwound", flush=True)

workers.exit_when_terminated(work)
print("the worker went on", flush=True)
"""


@pytest.mark.parametrize("in_hook", [False, True], ids=["swallowed", "arriving-in-the-hook"])
def test_a_sigterm_that_python_would_swallow_still_unwinds_the_worker_quietly(in_hook):
    """A worker's SIGTERM raised where Python swallows exceptions (a `__del__`), or arriving while the unraisable-
    exception hook runs (the parent's second SIGTERM after `kill -TERM -PGID`), must still unwind the simulation and
    end the worker without a traceback. Before: a signal in the hook printed "Exception ignored in
    sys.unraisablehook" with a `Terminated` traceback (a generate test failed on it under load)."""
    process = subprocess.run([sys.executable, "-c", SWALLOWED.format(in_hook=in_hook)], capture_output=True,
                             text=True, timeout=DEADLINE, cwd=Path(__file__).resolve().parents[1])
    assert process.returncode == 1, process
    assert process.stdout.splitlines() == ["unwound"], process
    assert "Terminated" not in process.stderr and "Exception ignored" not in process.stderr, process.stderr
