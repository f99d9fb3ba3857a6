"""Output into a pipe whose reader has gone (`fluidloss weights list | head -1`): every command stops quietly with
status 0, like `cat`, never a traceback nor status 1 with no message; a failing command keeps its status."""

import subprocess
import sys

import pytest


def into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run `fluidloss ARGS` with stdout a pipe closed before the command writes anything (the process needs a good
    part of a second to start; the reader is gone long before)."""
    process = subprocess.Popen([sys.executable, "-m", "fluidloss_cli", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, "", stderr)


@pytest.mark.parametrize("args", [
    ["weights", "list"],
    ["--help"],
    ["train", "sr", "--help"],
    ["study", "plan", "sample_configs/study_smoke.toml", "--no-probe"],
])
def test_a_closed_pipe_ends_the_command_quietly_with_status_0(args):
    done = into_closed_pipe(*args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr


def test_a_failing_command_keeps_its_status_and_message():
    done = into_closed_pipe("weights", "lis")
    assert done.returncode == 2 and done.stderr.startswith("error: No such command 'lis'"), done.stderr
