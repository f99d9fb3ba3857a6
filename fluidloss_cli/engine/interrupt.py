"""Ctrl-C that is never lost. Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives, and
one raised inside a garbage-collection callback (a weakref's, a `__del__`) is printed as "Exception ignored" with a
traceback and swallowed: a training run then went on to its end. The handler installed here also records the
interrupt, such a swallowed one is no longer printed, and long loops call `check()` at safe points (each training
step, each simulated frame) to raise it again.

SIGTERM (`kill PID`, a batch system's stop) is handled alike: it raises `Terminated`, a KeyboardInterrupt, so the
run unwinds exactly as after Ctrl-C (finished work kept, temporaries removed) and the app says so and exits 143."""

import signal
import sys

_received: type[KeyboardInterrupt] | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding the run as Ctrl-C does."""


def _on_interrupt(signum: int, frame: object) -> None:
    """Record the interrupt, then interrupt as Python's own handler does."""
    global _received
    _received = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    raise _received


def install() -> None:
    """Handle SIGINT (and SIGTERM) here, where Python's default handler is in place (not where it is ignored or
    taken by others); from the main thread only."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_interrupt)
        sys.unraisablehook = _quiet_about_interrupts(sys.unraisablehook)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_interrupt)


def _quiet_about_interrupts(hook):
    """`hook` for every unraisable exception but a swallowed interrupt, which `check()` raises again."""
    def unraisable(report) -> None:
        if not (_received and isinstance(report.exc_value, KeyboardInterrupt)):
            hook(report)
    return unraisable


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was received, even one that was swallowed where it landed."""
    if _received:
        raise _received


def cause(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt behind `exc`: a C extension whose callback the interrupt landed in may raise its own error in its
    place (h5py's attribute iteration: a SystemError "returned a result with an exception set", the interrupt as its
    cause), which must end the run as the interrupt would. None when no interrupt is in its chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
