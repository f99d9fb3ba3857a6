"""The output guard: an output file is refused, before any work, when it is taken (without --overwrite), being written
by another live fluidloss run, or cannot be created. Light to import, so commands check it before loading torch."""

from pathlib import Path

from fluidloss_cli.engine.atomic import check_writable_dir, refuse_existing
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.lock import refuse_if_locked


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an output that is taken (without --overwrite), being written by another run, or that cannot be created,
    before any work."""
    refuse_if_locked(out)
    if out.is_dir():
        raise FluidlossError(f"cannot write {out}: is a directory")
    if out.exists() and not overwrite:
        refuse_existing(out)
    check_writable_dir(out.parent, out)
