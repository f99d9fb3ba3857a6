"""The output guards: an output is refused, before any work, when it is taken (without --overwrite), being written by
another live fluidloss run, an input of the same run, or cannot be created. Light to import, so commands check it
before loading torch."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fluidloss_cli.engine.atomic import check_writable_dir, refuse_existing
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.lock import output_lock, refuse_if_locked
from fluidloss_cli.engine.paths import refuse_loop, same_file


def check_output(out: Path, overwrite: bool, inputs: Sequence[Path] = (), held: bool = False) -> None:
    """Refuse an output file that is taken (without --overwrite), being written by another run, one of `inputs`, a
    looping link, or that cannot be created, before any work. `held`: this process holds the output's lock (see `claim_outputs`)."""
    out = Path(out)
    refuse_loop(out, out)
    if not held:
        refuse_if_locked(out)
    if out.is_dir():
        raise FluidlossError(f"cannot write {out}: is a directory")
    if out.exists() and not overwrite:
        refuse_existing(out)
    check_writable_dir(out.parent, out)
    if any(same_file(out, p) for p in inputs):
        raise FluidlossError(f"cannot write {out}: it is an input of this run")


def check_output_folder(out: Path, report: str, what: str, overwrite: bool) -> None:
    """Create an output folder, refusing one that holds an earlier `report` (a `what`) unless `overwrite`."""
    if (out / report).exists() and not overwrite:
        refuse_existing(out, f"already holds {what} ({report})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FluidlossError(f"cannot create {out}: {exc.strerror or exc}") from None


def check_output_dir(out: Path) -> None:
    """Refuse, before any work, an output folder that another live run is writing, or that cannot be created or
    written: a file or a looping link where it or one of its parents should be, or a nearest existing folder that
    takes no files (read-only, no permission)."""
    out = Path(out)
    refuse_if_locked(out)
    for folder in (out, *out.parents):
        refuse_loop(folder, out)
        if not folder.exists():
            continue
        if not folder.is_dir():
            where = "is a file" if folder == out else f"{folder} is a file"
            raise FluidlossError(f"cannot create the folder {out}: {where}, not a folder")
        check_writable_dir(folder, out)
        return


@contextmanager
def claim_outputs(outputs: Sequence[Path | None], check: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the lock of every one of `outputs` (None: none) for the body of the `with`, so a second run on any of them
    stops with one line, and run `check` under the locks: the caller's output checks again (with `held=True`), so an
    output that another run finished between the first check and the lock is refused without --overwrite, not
    replaced."""
    with ExitStack() as stack:
        for out in dict.fromkeys(Path(o) for o in outputs if o is not None):
            stack.enter_context(output_lock(out))
        check()
        yield


@contextmanager
def claim_folder(out: Path, check: Callable[[], None] = lambda: None) -> Iterator[None]:
    """`claim_outputs` for an output folder: its parent is created first, for the lock beside the folder."""
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FluidlossError(f"cannot create {Path(out).parent}: {exc.strerror or exc}") from None
    with claim_outputs([out], check):
        yield
