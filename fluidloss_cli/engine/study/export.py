"""A study folder's results without its data, to publish or move: every cell's small files (results, logs, run
configs, training curves, evaluation tables and plots), the plan and the report, but no dataset, no lock and no
training checkpoint; the last rendered frame of each render; and, on request, the best model of chosen cells as a
slim checkpoint (weights and provenance, no optimizer state) under `checkpoints/`.

An export is a study folder: `study report` rewrites its report (without the test-vs-training tables, which read
the data), and `study run CONFIG --out EXPORT` regenerates the data and runs only the cells it lacks.
"""

import fnmatch
import shutil
from pathlib import Path

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.study.cells import CELLS
from fluidloss_cli.engine.study.files import atomic_file, read_json
from fluidloss_cli.engine.study.runner import PLAN

LEFT_OUT = (".h5", ".pt")
"""Suffixes of what an export leaves out: datasets and training checkpoints."""
TRAINING_STATE = ("optimizer", "scheduler", "rng")
"""Checkpoint entries that only continue training; a published model drops them."""


def kept(relative: Path, out: Path) -> bool:
    """Whether a file of the study folder belongs in an export."""
    if relative.parts[0] == "locks" or relative.suffix in LEFT_OUT or any(p.endswith(".parts") for p in relative.parts):
        return False
    if relative.parent.name == "frames" and relative.parts[:2] == (CELLS, "render"):
        return relative.name == max(p.name for p in (out / relative.parent).glob("frame_*"))
    return True


def checkpoint_name(model: str, plan: dict) -> str:
    """`train/TASK/SCENE/LOSS/seedK` -> TASK[_SCENE]_LOSS_seedK.pt (the scene only where the task has several)."""
    _, task, scene, loss, seed = model.split("/")
    several = len(plan["tasks"].get(task, {}).get("scenes", [])) > 1
    return "_".join([task, *([scene] if several else []), loss, seed]) + ".pt"


def slim_copy(source: Path, destination: Path) -> None:
    """Write a checkpoint without its training state (what `evaluate`, `simulate` and `benchmark` read remains)."""
    from fluidloss_cli.engine.checkpoints import load_checkpoint, save_checkpoint

    content = load_checkpoint(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({k: v for k, v in content.items() if k not in TRAINING_STATE and k not in ("format",
                                                                                                "format_version")},
                    destination)


def export(out: Path, destination: Path, models: list[str] = ()) -> list[Path]:
    """Copy the study in `out` to `destination` (files there are replaced); `models` are glob patterns of training
    cells (`sol/karman_a/mse/*`; a weighted loss as its folder name, `mse+0.1xlsim`) whose best.pt is published slim. Returns the files written."""
    plan = read_json(out / PLAN)
    if plan is None:
        raise FluidlossError(f"{out} holds no study ({PLAN} is missing)")
    if destination.resolve() == out.resolve():
        raise FluidlossError(f"export {out} into another folder than itself")
    written = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        relative = path.relative_to(out)
        if kept(relative, out):
            with atomic_file(destination / relative) as tmp:
                shutil.copyfile(path, tmp)
            written.append(destination / relative)
    trained = [cell["id"] for cell in plan["cells"] if cell["kind"] == "train"]
    for pattern in models:
        chosen = [m for m in trained if fnmatch.fnmatch(m, f"train/{pattern}")]
        if not chosen:
            raise FluidlossError(f"--checkpoints {pattern!r} matches no training cell (e.g. {trained[0][6:]})")
        for model in chosen:
            best = out / CELLS / model / "run" / "best.pt"
            if best.is_file():
                slim_copy(best, destination / "checkpoints" / checkpoint_name(model, plan))
                written.append(destination / "checkpoints" / checkpoint_name(model, plan))
    return written
