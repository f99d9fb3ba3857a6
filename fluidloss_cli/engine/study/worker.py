"""The runner's side of a study worker process (`fluidloss_cli.study_worker`): start it, send it cells, forward its
answers (or its death) to the runner's queue."""

import ctypes
import json
import queue
import signal
import subprocess
import sys
import threading


def _die_with_parent() -> None:
    """In the child before exec: be killed when the runner dies (Linux), so no orphan writes into a cell."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Worker:
    """One worker process of a slot, with a thread that forwards its answers (or its death) to a shared queue."""

    def __init__(self, slot: int, env: dict[str, str], answers: queue.Queue):
        self.slot = slot
        self.process = subprocess.Popen([sys.executable, "-m", "fluidloss_cli.study_worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                        preexec_fn=_die_with_parent)
        threading.Thread(target=self.forward, args=(answers,), daemon=True).start()

    def forward(self, answers: queue.Queue) -> None:
        for line in self.process.stdout:
            answers.put((self.slot, json.loads(line)))
        answers.put((self.slot, None))  # the process ended

    def send(self, request: dict) -> None:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
