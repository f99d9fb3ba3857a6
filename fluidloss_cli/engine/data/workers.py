"""Worker processes that never outlive the run: they die with their parent, and the parent can stop them at once.

A killed `generate` (SIGKILL gives it no chance to clean up) must not leave its workers simulating on: on Linux the
kernel sends each worker SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG); elsewhere, and as a fallback, a
thread in the worker sends it that signal once its parent process is gone. SIGTERM unwinds the simulation (so its
temporary file is removed) and then ends the worker process, which must not go on to the next queued simulation.
A worker that is idle (waiting for work) when SIGTERM comes ends at once and quietly: the parent, which stops the
workers itself, reports the interrupt (a `Terminated` traceback per idle worker once followed `kill -TERM -PGID`).
"""

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5
RESEND_SECONDS = 0.05


class Terminated(BaseException):
    """Raised in a worker by SIGTERM: unwinds the running simulation; `exit_when_terminated` then ends the process."""


_working = False
"""Whether this worker runs a simulation now (in `exit_when_terminated`), which SIGTERM unwinds; else it is idle."""


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM in a worker: unwind the running simulation, or end an idle worker without a word. Inside the
    unraisable-exception hook a raise would itself be swallowed (and printed as the hook's failure), so there the
    signal is only sent again, to land at an ordinary line."""
    if not _working:
        os._exit(1)
    if _inside_unraisable_hook(frame):
        _signal_again_soon()
        return
    raise Terminated


def orphan_guard(parent: int) -> None:
    """Make this (worker) process unwind and exit on SIGTERM, and receive SIGTERM when process `parent` dies."""
    signal.signal(signal.SIGTERM, _terminate)
    global _previous_hook
    if sys.unraisablehook is not _unraisable:
        _previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still covers it
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="fluidloss-orphan-guard").start()


_previous_hook: Callable[..., None] = sys.unraisablehook
"""The unraisable-exception hook that `_unraisable` replaced, which gets everything but a `Terminated`."""


def _unraisable(unraisable: object) -> None:
    """The workers' unraisable-exception hook: a `Terminated` that SIGTERM raised where Python swallows exceptions (a
    weakref callback, a `__del__`) would print a traceback and leave the simulation running; signal it again instead,
    so that it is raised at the next ordinary line. Anything else goes to the hook it replaced."""
    if isinstance(getattr(unraisable, "exc_value", None), Terminated):
        _signal_again_soon()
        return
    _previous_hook(unraisable)


def _inside_unraisable_hook(frame: object) -> bool:
    """Whether the interrupted `frame`, or one of its callers, is `_unraisable`'s."""
    while frame is not None:
        if getattr(frame, "f_code", None) is _unraisable.__code__:
            return True
        frame = getattr(frame, "f_back", None)
    return False


def _signal_again_soon() -> None:
    """Send this process SIGTERM again from another thread shortly, when the hook has returned: sent from the hook
    itself, its handler could run before the hook returns (and so would a signal from outside, e.g. the parent's
    `stop_workers` after `kill -TERM -PGID`), which `_terminate` defers once more."""
    timer = threading.Timer(RESEND_SECONDS, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.daemon = True
    timer.start()


def _watch(parent: int) -> None:
    """Poll the parent; when this process has been re-parented, the parent is gone: terminate this process."""
    event = threading.Event()
    while not event.wait(POLL_SECONDS):
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def exit_when_terminated(work: Callable[[], None]) -> None:
    """Run `work` in a worker; if SIGTERM stopped it (its files cleaned up while unwinding), end the process now."""
    global _working
    _working = True
    try:
        work()
    except Terminated:
        os._exit(1)
    finally:
        _working = False


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the running workers now, instead of letting them finish."""
    processes = list(getattr(pool, "_processes", None) or {})  # pid -> process; Python keeps no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for pid in processes:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
