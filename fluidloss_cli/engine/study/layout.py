"""Where a study folder keeps what: every cell's folder under `cells/<id>/`, a training cell's run folder and an
evaluation cell's output folder; the runner, the report and the export find files only through these names."""

from dataclasses import dataclass
from pathlib import Path

from fluidloss_cli.engine.results import BEST, FRAMES_FILE, ROLLOUTS_FILE

PLAN = "plan.json"
"""The study's plan: its config's digest, tasks, scenes and every cell with its command."""
CELLS = "cells"
"""The folder of every cell's files, `cells/<cell id>/`."""
RESULT, FAILED, LOG = "result.json", "failed.json", "log.txt"
"""In a cell's folder: its result (written last, the mark of a finished cell), the record of a failed attempt, and
its command's output."""
REPORT_FILE, REPORT_DATA, FIGURES = "report.md", "report.json", "figures"
"""The study report: its markdown, its values as JSON, and the folder of its figures."""
DATA = "data.h5"
"""A data cell's dataset (generate, downsample)."""
RUN, EVALUATION, RENDER = "run", "evaluation", "frames"
"""A training cell's run folder (its `train --out`; `evaluate` labels its best.pt's row by this name), an
evaluation cell's `--out` folder and a render cell's `--render` folder."""
OOD = "ood"
"""The out-of-distribution test: its data cells `data/SCENE/ood-fine|coarse` and evaluation cells `ood/MODEL`."""
PIPE = "pipe"
"""The rollout use case of an SR model: coarse solver + a SOL model of the study + the SR model against the fine
reference (`[tasks.NAME] rollout_sol`), evaluation cells `pipe/MODEL`."""
OUTPUTS = {"generate": (DATA,), "downsample": (DATA,), "train": (f"{RUN}/{BEST}",),
           "evaluate": (f"{EVALUATION}/{ROLLOUTS_FILE}", f"{EVALUATION}/{FRAMES_FILE}"), "render": (RENDER,)}
"""Cell kind -> its main output in the cell folder (any one of them), what the cells after it and the report read:
a cell recorded done without it (deleted, or lost in a copy) is not finished."""


def cell_folder(out: Path, cell_id: str) -> Path:
    """The folder of one cell's files."""
    return out / CELLS / cell_id


def run_folder(out: Path, cell_id: str) -> Path:
    """A training cell's run folder: its checkpoints and training log."""
    return cell_folder(out, cell_id) / RUN


def evaluation_folder(out: Path, cell_id: str) -> Path:
    """An evaluation cell's output folder: evaluation.json or frames.json, tables and the example frame."""
    return cell_folder(out, cell_id) / EVALUATION


def produced(out: Path, cell_id: str, kind: str) -> bool:
    """Whether a cell's folder holds its main output (`OUTPUTS`; a folder counts when it is not empty); a kind
    without a known output counts as produced."""
    folder = cell_folder(out, cell_id)
    return any(path.is_file() or (path.is_dir() and any(path.iterdir()))
               for path in (folder / name for name in OUTPUTS.get(kind, ("",))))


def relative(cell_id: str, name: str = DATA) -> str:
    """A file of a cell (by default a data cell's dataset), relative to the study folder: how the cells' commands
    name it, so the folder can move."""
    return f"{CELLS}/{cell_id}/{name}"


def slug(loss: str) -> str:
    """A loss spec as a folder name: `mse+0.1*lsim` -> `mse+0.1xlsim`."""
    return loss.replace("*", "x").replace(" ", "")


@dataclass(frozen=True)
class ModelId:
    """One trained model of a study, the one spelling of its name: `TASK/SCENE/LOSS/seedK` (the loss as its folder
    name), under which its training cell (`train/...`) and evaluation cell (`eval/...`) live."""

    task: str
    scene: str
    loss: str
    """The loss as its folder name (`slug`)."""
    seed: int

    @classmethod
    def of(cls, task: str, scene: str, loss: str, seed: int) -> "ModelId":
        """The model of a loss spec (`mse+0.1*lsim`)."""
        return cls(task, scene, slug(loss), seed)

    @classmethod
    def parse(cls, name: str) -> "ModelId":
        """`TASK/SCENE/LOSS/seedK`, or a training or evaluation cell id (`train/...`, `eval/...`)."""
        parts = name.split("/")
        task, scene, loss, seed = parts[-4:]
        return cls(task, scene, loss, int(seed.removeprefix("seed")))

    def __str__(self) -> str:
        return f"{self.task}/{self.scene}/{self.loss}/seed{self.seed}"

    @property
    def train(self) -> str:
        """Its training cell's id."""
        return f"train/{self}"

    @property
    def eval(self) -> str:
        """Its evaluation cell's id."""
        return f"eval/{self}"

    @property
    def pipe(self) -> str:
        """Its rollout-use-case evaluation cell's id (an SR model after a SOL model, `rollout_sol`)."""
        return f"{PIPE}/{self}"

    @property
    def ood(self) -> str:
        """Its evaluation cell's id on the scene's out-of-distribution variant (`[scenes.NAME] ood`)."""
        return f"{OOD}/{self}"
