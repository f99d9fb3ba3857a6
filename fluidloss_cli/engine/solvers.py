"""The simulation solvers a command can choose with `--solver`: PhiFlow's scene step (the reference) or the native
plain-torch step of `engine/native` (docs/native_solver.md). Names only, so the command line checks the option
without loading torch or PhiFlow."""

from fluidloss_cli.engine.errors import FluidlossError

SOLVERS = ("native", "phiflow")
GENERATE_DEFAULT = "native"  # faster at equal results: README, "generate: native against PhiFlow"


def check_solver(name: str) -> str:
    """The name itself if it is a known solver, else a one-line error that lists them."""
    if name not in SOLVERS:
        raise FluidlossError(f"unknown solver {name!r}: choose one of {', '.join(SOLVERS)}")
    return name
