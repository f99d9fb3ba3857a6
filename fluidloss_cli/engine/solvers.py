"""The simulation solvers that generate, SOL training and rollouts can step with (`--solver`), and which one a run
uses: the one place that names them and their default (docs/commands.md "Solvers" gives the measurements behind it). Light: no
torch, no PhiFlow, so the command line checks the option before loading them."""

from fluidloss_cli.engine.errors import FluidlossError

SOLVERS = ("native", "phiflow")
"""native: the plain-torch step of engine/native/; phiflow: the scene's own PhiFlow step."""
DEFAULT_SOLVER = "native"
BEFORE_CHOICE = "phiflow"
"""The solver of checkpoints written before the choice existed (no `solver` in their task_info)."""


def check_solver(name: str) -> str:
    """`name` if it is a solver, else a one-line error."""
    if name not in SOLVERS:
        raise FluidlossError(f"unknown solver {name!r}: choose one of {', '.join(SOLVERS)}")
    return name


def trained_solver(task_info: dict) -> str:
    """The solver a SOL checkpoint was trained with (its task_info)."""
    return task_info.get("solver", BEFORE_CHOICE)


def solver_for(requested: str | None, trained: str | None, checkpoint: object = None, retarget: bool = False) -> str:
    """The solver of a rollout: a SOL model's own (`trained`, read from `checkpoint`), which an explicit different
    `requested` one may not replace (the correction learnt that solver's errors) unless `retarget` (the benchmark,
    which times a correction on either solver); else `requested`, else the default."""
    if requested is not None:
        check_solver(requested)
    if trained is None or (retarget and requested is not None):
        return requested or trained or DEFAULT_SOLVER
    if requested is not None and requested != trained:
        raise FluidlossError(f"{checkpoint} was trained with --solver {trained}, and its corrections fit that solver: "
                             f"leave out --solver {requested} (or pass --solver {trained})")
    return trained
