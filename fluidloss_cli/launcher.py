"""Entry point of the `fluidloss` command: pins Python's string-hash seed, then runs the Typer app.

phiml's results depend, at rounding level, on Python's hash seed (measured: two Karman runs 5e-5 apart
after one step at 32x16 under different seeds, bit-identical under the same one). Running with
PYTHONHASHSEED=0 makes the same command give the same files, with any --workers, on any run.
"""

import os
import sys


def main() -> None:
    """Re-execute under PYTHONHASHSEED=0 unless the user chose a seed; then run the app."""
    if "PYTHONHASHSEED" not in os.environ:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "fluidloss_cli", *sys.argv[1:]])
    from fluidloss_cli.engine.errors import FluidlossError
    from fluidloss_cli.engine.plugins import load_plugins

    try:
        load_plugins()  # before the app and its help texts are built: a plugin's scenes, options and models are in them
    except FluidlossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    from fluidloss_cli.app import app
    try:
        app(prog_name="fluidloss")
        code: int | str | None = 0
    except SystemExit as done:
        code = done.code
    try:
        sys.stdout.flush()  # what is still buffered, now: a reader that left is a quiet end, not a traceback
    except BrokenPipeError:
        from fluidloss_cli.commands.common import silence_closed_pipe

        silence_closed_pipe()
    sys.exit(code)
