"""The output guards: an output is refused, before any work, when it is taken (without --overwrite), being written by
another live fluidloss run, an input of the same run, or cannot be created. Light to import, so commands check it
before loading torch."""

from collections.abc import Sequence
from pathlib import Path

from fluidloss_cli.engine.atomic import check_writable_dir, refuse_existing
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.lock import refuse_if_locked


def check_output(out: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """Refuse an output file that is taken (without --overwrite), being written by another run, one of `inputs`, or
    that cannot be created, before any work."""
    out = Path(out)
    refuse_if_locked(out)
    if out.is_dir():
        raise FluidlossError(f"cannot write {out}: is a directory")
    if out.exists() and not overwrite:
        refuse_existing(out)
    check_writable_dir(out.parent, out)
    if any(out.resolve() == Path(p).resolve() for p in inputs):
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
    """Refuse, before any work, an output folder that cannot be created or written: a file where it or one of its
    parents should be, or a nearest existing folder that takes no files (read-only, no permission)."""
    out = Path(out)
    for folder in (out, *out.parents):
        if not folder.exists():
            continue
        if not folder.is_dir():
            where = "is a file" if folder == out else f"{folder} is a file"
            raise FluidlossError(f"cannot create the folder {out}: {where}, not a folder")
        check_writable_dir(folder, out)
        return
