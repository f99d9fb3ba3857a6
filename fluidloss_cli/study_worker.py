"""A study worker: one process that loads torch, PhiFlow and the commands once, then runs cells one after another.

Each cell is a `fluidloss` command line run by the app itself, exactly as the user-facing command, in the study
folder, its stdout and stderr (Python and C level) going to the cell's log. Requests arrive as JSON lines on
stdin ({"id", "args", "cwd", "log"}), answers leave as JSON lines on the original stdout ({"id", "rc", "wall_s"}).
Loading the libraries once matters: it costs more than a toy cell's work. Run by `python -m` with the study's
environment (threads, GPU, PYTHONHASHSEED=0 as the `fluidloss` launcher pins it).
"""

import json
import os
import sys
import time
import traceback


def preload() -> object:
    """Import what the cells use and return the app's click command."""
    import torch
    from typer.main import get_command

    from fluidloss_cli.app import app
    from fluidloss_cli.engine.phiflow_setup import configure
    from fluidloss_cli.engine.plugins import load_plugins

    load_plugins()  # before the commands are built: the cells may use what plugins register

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    configure()
    import fluidloss_cli.engine.data.generation  # noqa: F401  (loaded once, not in the first cell's time)
    import fluidloss_cli.engine.evaluation.rollouts  # noqa: F401
    import fluidloss_cli.engine.training  # noqa: F401

    return get_command(app)


def run_cell(command: object, request: dict) -> int:
    """Run one command line with fds 1 and 2 on the cell's log; its exit status (1 for an unexpected exception)."""
    saved = os.dup(1), os.dup(2)
    os.chdir(request["cwd"])
    with open(request["log"], "w") as log:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            result = command.main(args=list(request["args"]), prog_name="fluidloss", standalone_mode=False)
            status = result if isinstance(result, int) else 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # the cell fails, the worker lives on
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
    return status


def main() -> None:
    """Answer cell requests until stdin closes."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # a stray print between cells must not corrupt the answers
    command = preload()
    for line in sys.stdin:
        request = json.loads(line)
        start = time.perf_counter()
        status = run_cell(command, request)
        answers.write(json.dumps({"id": request["id"], "rc": status,
                                  "wall_s": round(time.perf_counter() - start, 3)}) + "\n")


if __name__ == "__main__":
    main()
