"""Real `fluidloss` processes for the tests: started in their own session (so a signal reaches them alone), run to
the end with what they loaded, and waited on by state with a deadline only against hangs."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

KARMAN = ["generate", "karman", "--res", "32x16"]
DEADLINE = 180.0
HEAVY = ("torch", "phi", "phiml", "matplotlib")


DRIVER = """
import sys
from fluidloss_cli.app import app
try:
    app(sys.argv[1:], prog_name="fluidloss")
except SystemExit as exc:
    code = exc.code
print("loaded:", ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
sys.exit(code)
""".format(heavy=HEAVY)


class Run:
    """A finished `fluidloss` process: exit code, output without the loaded-modules line, and what it loaded."""

    def __init__(self, *args: str, cwd=None):
        done = subprocess.run([sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, cwd=cwd,
                              env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin", "COLUMNS": "200",
                                   "PYTHONPATH": str(ROOT)})  # this checkout, whatever is installed
        *lines, loaded = done.stderr.rstrip("\n").split("\n")
        assert loaded.startswith("loaded:"), done.stderr
        self.exit_code, self.stdout = done.returncode, done.stdout
        self.output = "\n".join(lines) + "\n" + done.stdout
        self.loaded = [m for m in loaded.removeprefix("loaded:").strip().split(",") if m]


def wait_until(condition, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll `condition` until it holds; fail (with the process's output) if the deadline passes or the process ends."""
    end = time.monotonic() + DEADLINE
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended before {what}: {process.stdout.read().decode()[-2000:]}")
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def start(*args) -> subprocess.Popen:
    """`python -m fluidloss_cli ARGS` in its own session (so a signal reaches it alone), with Ctrl-C handled as in a
    terminal even where the tests run in the background (whose shell starts jobs with SIGINT ignored)."""
    return subprocess.Popen([sys.executable, "-m", "fluidloss_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux)."""
    return [int(n) for n in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith((".part", ".lock")))
