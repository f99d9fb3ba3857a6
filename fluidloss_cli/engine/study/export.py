"""A study folder's results without its data, to publish or move: every finished cell's small files (results, logs, run
configs, training curves, evaluation tables and plots), the plan and the report, but no dataset, no lock and no
training checkpoint; the last rendered frame of each render; and, on request, the best model of chosen cells whose
training finished as a slim checkpoint (weights and provenance, no optimizer state) under `checkpoints/`. Paths inside the study folder
that files record absolutely (datasets in provenance) become relative to it.

An export is a study folder: `study report` rewrites its report (without the test-vs-training tables, which read
the data), and `study run CONFIG --out EXPORT` regenerates the data and runs only the cells it lacks.
"""

import fnmatch
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.atomic import make_folder
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.paths import inside
from fluidloss_cli.engine.study.files import atomic_file, read_json
from fluidloss_cli.engine.study.layout import CELLS, PLAN, RESULT, ModelId, cell_folder, run_folder
from fluidloss_cli.engine.results import BEST

TEXT = (".json", ".jsonl", ".txt", ".md", ".csv", ".toml")
"""Suffixes of the text files in which the study folder's absolute path is made relative."""
LEFT_OUT = (".h5", ".pt", ".lock")
"""Suffixes of what an export leaves out: datasets, training checkpoints and the locks of running cells."""
TRAINING_STATE = ("optimizer", "scheduler", "rng")
"""Checkpoint entries that only continue training; a published model drops them."""


def finished_cells(out: Path, plan: dict) -> set[Path]:
    """The folders (relative to the study folder) of the plan's cells that have ended: done, failed or skipped, each
    with its result.json. A running or interrupted cell, or a folder the plan does not name, has no place in an
    export: its files would describe work that is not there."""
    return {Path(CELLS) / cell["id"] for cell in plan["cells"] if (cell_folder(out, cell["id"]) / RESULT).is_file()}


def kept(name: Path, out: Path, finished: set[Path]) -> bool:
    """Whether a file of the study folder (`name` relative to it) belongs in an export; `finished`: the
    `finished_cells`."""
    if name.parts[0] == "locks" or name.suffix in LEFT_OUT or any(p.endswith(".parts") for p in name.parts):
        return False
    if name.parts[0] == CELLS and not any(parent in finished for parent in name.parents):
        return False
    if name.parent.name == "frames" and name.parts[:2] == (CELLS, "render"):
        return name.name == max(p.name for p in (out / name.parent).glob("frame_*"))
    return True


def checkpoint_name(model: str, plan: dict) -> str:
    """`train/TASK/SCENE/LOSS/seedK` -> TASK[_SCENE]_LOSS_seedK.pt (the scene only where the task has several)."""
    model_id = ModelId.parse(model)
    several = len(plan["tasks"].get(model_id.task, {}).get("scenes", [])) > 1
    return "_".join([model_id.task, *([model_id.scene] if several else []), model_id.loss,
                     f"seed{model_id.seed}"]) + ".pt"


def relative(value: Any, root: str) -> Any:
    """`value` with the study folder's absolute path `root` (in any string inside it) made relative to the folder:
    an export names no path of the machine it came from."""
    if isinstance(value, str):
        return value.replace(root + "/", "").replace(root, ".")
    if isinstance(value, dict):
        return {k: relative(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(relative(v, root) for v in value)
    return value


def slim_copy(source: Path, destination: Path, root: str) -> None:
    """Write a checkpoint without its training state (what `evaluate`, `simulate` and `benchmark` read remains)."""
    from fluidloss_cli.engine.checkpoints import load_checkpoint, save_checkpoint

    content = load_checkpoint(source)
    make_folder(destination.parent, destination)
    kept = {k: v for k, v in content.items() if k not in (*TRAINING_STATE, "format", "format_version", "model")}
    save_checkpoint({**relative(kept, root), "model": content["model"]}, destination)


def check_export(out: Path, destination: Path, models: Sequence[str] = ()) -> tuple[dict, list[str]]:
    """Refuse, before anything is written, an export that cannot be right: a folder without a study, a destination
    that is the study folder, lies in it or holds it, a destination that holds another study (or its export), and
    a `--checkpoints` pattern that matches no training cell. Returns the study's plan and the training cells the
    patterns choose."""
    plan = read_json(out / PLAN)
    if plan is None:
        raise FluidlossError(f"{out} holds no study ({PLAN} is missing)")
    if inside(destination, out) or inside(out, destination):
        raise FluidlossError(f"cannot export {out} into {destination}: neither folder may lie inside the other; "
                             "choose a destination outside the study folder")
    earlier = read_json(destination / PLAN)
    if earlier is not None and earlier.get("digest") != plan.get("digest"):
        raise FluidlossError(f"{destination} holds another study ({earlier.get('name')}, digest {earlier.get('digest')}"
                             f", this one {plan.get('digest')}): export into a new folder or an earlier export of "
                             "this study")
    trained = [cell["id"] for cell in plan["cells"] if cell["kind"] == "train"]
    chosen: list[str] = []
    for pattern in models:
        matched = [m for m in trained if fnmatch.fnmatch(m, f"train/{pattern}")]
        if not matched:
            raise FluidlossError(f"--checkpoints {pattern!r} matches no training cell (e.g. {trained[0][6:]})")
        chosen += [m for m in matched if m not in chosen]
    return plan, chosen


def export(out: Path, destination: Path, models: Sequence[str] = ()) -> list[Path]:
    """Copy the study in `out` to `destination` (files there are replaced); `models` are glob patterns of training
    cells (`sol/karman_a/mse/*`; a weighted loss as its folder name, `mse+0.1xlsim`) whose best.pt is published slim
    once their training has finished (a running cell's best.pt is an epoch's, not the model's). Everything is checked
    first (`check_export`). Returns the files written."""
    plan, chosen = check_export(out, destination, models)
    written, root, finished = [], str(out.resolve()), finished_cells(out, plan)
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out)
        if kept(name, out, finished):
            with atomic_file(destination / name) as tmp:
                if path.suffix in TEXT:
                    tmp.write_text(relative(path.read_text(errors="replace"), root))
                else:
                    shutil.copyfile(path, tmp)
            written.append(destination / name)
    for model in chosen:
        best, finished = run_folder(out, model) / BEST, read_json(cell_folder(out, model) / RESULT)
        if best.is_file() and finished and finished.get("status") == "done":
            slim_copy(best, destination / "checkpoints" / checkpoint_name(model, plan), root)
            written.append(destination / "checkpoints" / checkpoint_name(model, plan))
    return written
