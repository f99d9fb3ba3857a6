"""The cells of a study: each one `fluidloss` command (generate, downsample, train, evaluate, simulate) with the cells
it needs first, forming a DAG: data before training before evaluation.

A cell's files live in `cells/<id>/` of the study folder, and its command names them relative to that folder, so a
study folder can move between machines. `units` measure a cell's work (frames simulated, samples trained, frames
evaluated) for time estimates; `key` groups cells whose time per unit is alike.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from fluidloss_cli.engine.command_line import argv
from fluidloss_cli.engine.loss_names import cost_class
from fluidloss_cli.engine.defaults import VAL_SPLIT
from fluidloss_cli.engine.results import BEST
from fluidloss_cli.engine.study.config import StudyConfig, TaskSpec, pipeline_scenes
from fluidloss_cli.engine.study.scene_spec import SceneSpec
from fluidloss_cli.engine.study.layout import EVALUATION, OOD, RENDER, RUN, ModelId, relative
from fluidloss_cli.engine.task_options import TaskOption, all_options

TRAIN_GRIDS = {"sol": {"data": "coarse"}, "sr": {"coarse": "coarse", "fine": "fine"}, "ae": {"data": "fine"}}
"""Task -> the options of its `train` command that name a training set -> the set's grid."""
TEST_GRIDS = {"sol": ("coarse",), "sr": ("fine", "coarse"), "ae": ("fine",)}
"""Task -> the test sets its evaluation reads."""


@dataclass(frozen=True)
class Cell:
    """One unit of work of a study, its command and what it depends on."""

    id: str
    kind: str
    """generate, downsample, train, evaluate or render."""
    args: tuple[str, ...]
    """`fluidloss` arguments, paths relative to the study folder."""
    deps: tuple[str, ...] = ()
    task: str | None = None
    scene: str | None = None
    loss: str | None = None
    seed: int | None = None
    units: float = 1.0
    group: str = ""
    """Cells of one group go to the same shard (a model's training and evaluation); data cells have none."""
    uses_device: bool = True
    """Whether the command runs on the study's device (generate and downsample run on the CPU)."""
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """Cells whose time per unit is alike: kind, task, scene and the expensive parts of the loss."""
        return "/".join(str(p) for p in (self.kind, self.task, self.scene, cost_class(self.loss) if self.loss else ""))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def data_cells(scene: SceneSpec) -> list[Cell]:
    """Generate the fine training and test sets of a scene (and the test simulations on its `ood` variant) and
    downsample each to the coarse grid; a table sharing another's fine data (`fine_from`) only downsamples them."""
    cells = []
    roles = [("train", scene.kind, scene.train_re, scene.train_seeds), ("test", scene.kind, scene.test_re, scene.test_seeds)]
    roles += [(OOD, scene.ood, scene.test_re, scene.test_seeds)] if scene.ood else []
    for role, kind, res, seeds in roles:
        fine_id, coarse_id = scene.data_id(role, "fine"), scene.data_id(role, "coarse")
        sims = max(len(res), 1) * len(seeds)
        if not scene.fine_from:  # else the fine data are another table's cells
            args = argv("generate", scene=kind, res=scene.fine, frames=scene.frames, out=relative(fine_id),
                        re=res, seed=seeds, warmup=scene.warmup or None)
            cells.append(Cell(fine_id, "generate", tuple(args), scene=scene.name,
                              units=sims * (scene.frames + scene.warmup), uses_device=False,
                              extra={"scale": scene.fine.cells}))
        args = argv("downsample", source=relative(fine_id), res=scene.coarse, out=relative(coarse_id))
        cells.append(Cell(coarse_id, "downsample", tuple(args), (fine_id,), scene=scene.name, units=sims * scene.frames,
                          uses_device=False))
    return cells


def plan_order(kind: str) -> list[TaskOption]:
    """The training options a study config may set, in the order its plans have always held them: the task's and
    then the loop's, options added later (`added`) after both; epochs and batch size come after the loss."""
    settable = [o for o in all_options(kind) if o.study and o.name not in ("epochs", "batch_size")]
    return sorted(settable, key=lambda option: option.added)


def train_args(task: TaskSpec, scene: SceneSpec, loss: str, seed: int, out: str,
               config: StudyConfig) -> tuple[list[str], list[str]]:
    """The `fluidloss train` command of one model (training sets, the task's options, loss, seed, run folder) and the
    data cells it reads."""
    needs = {option: scene.data_id("train", grid) for option, grid in TRAIN_GRIDS[task.kind].items()}
    options = {o.name: task.options[o.name] for o in plan_order(task.kind) if o.name in task.options}
    if task.lr_of(loss) is not None:
        options["lr"] = task.lr_of(loss)
    args = argv(f"train {task.kind}", **{option: relative(cell_id) for option, cell_id in needs.items()},
                **options, loss=loss, epochs=config.epochs_of(task), batch_size=config.batch_of(task), seed=seed, out=out)
    return args, list(needs.values())


def eval_args(task: TaskSpec, scene: SceneSpec, checkpoint: str, out: str, config: StudyConfig,
              role: str = "test") -> list[str]:
    """The `fluidloss evaluate` command of one trained model on the scene's test set (`role` test), or on its
    out-of-distribution one (`ood`)."""
    fine, coarse = relative(scene.data_id(role, "fine")), relative(scene.data_id(role, "coarse"))
    common = dict(metrics=config.metrics, out=out)
    if task.kind == "sol":
        starts, steps = task.rollouts(scene.frames)
        return argv("evaluate rollout", data=coarse, sol=checkpoint, start=starts, steps=steps, **common)
    frames = dict(start=task.get("start", 0), stride=task.get("stride", 1))
    if task.kind == "sr":
        return argv("evaluate frames", data=coarse, fine=fine, sr=checkpoint, **frames, **common)
    return argv("evaluate frames", data=fine, ae=checkpoint, **frames, **common)


def eval_units(task: TaskSpec, scene: SceneSpec) -> float:
    """Frames an evaluation measures: rollout steps from every start, or the chosen test frames."""
    if task.kind == "sol":
        starts, steps = task.rollouts(scene.frames)
        return scene.test_simulations * len(starts) * steps
    start, stride = task.get("start", 0), task.get("stride", 1)
    return scene.test_simulations * math.ceil((scene.frames - start) / stride)


def model_cells(task: TaskSpec, scene: SceneSpec, loss: str, seed: int, config: StudyConfig) -> list[Cell]:
    """Train one model (task, scene, loss, seed) and evaluate it on the test set (and on the `ood` one)."""
    model = ModelId.of(task.name, scene.name, loss, seed)
    train_id, eval_id = model.train, model.eval
    args, needs = train_args(task, scene, loss, seed, relative(train_id, RUN), config)
    window = task.get("unroll", 4) + 1 if task.kind == "sol" else 1
    samples = (scene.frames - window + 1) * scene.train_simulations * (1 - VAL_SPLIT)
    facts = dict(task=task.name, scene=scene.name, loss=loss, seed=seed, group=train_id)
    checkpoint = relative(train_id, f"{RUN}/{BEST}")
    cells = [Cell(train_id, "train", tuple(args), tuple(needs), units=samples * config.epochs_of(task), **facts)]
    for role, cell_id in [("test", eval_id)] + [(OOD, model.ood)] * bool(scene.ood):
        args = eval_args(task, scene, checkpoint, relative(cell_id, EVALUATION), config, role)
        cells.append(Cell(cell_id, "evaluate", tuple(args),
                          (train_id, *(scene.data_id(role, grid) for grid in TEST_GRIDS[task.kind])),
                          units=eval_units(task, scene), **facts))
    return cells


def pipeline_cell(task: TaskSpec, scene: SceneSpec, loss: str, seed: int, config: StudyConfig) -> Cell:
    """The rollout use case of one SR model: `evaluate rollout` of the coarse solver corrected by the `rollout_sol`
    task's model of the same seed (its first loss), super-resolved by this model, against the fine test reference,
    over the SOL task's rollouts."""
    sol = config.tasks[task.options["rollout_sol"]]
    model, corrector = ModelId.of(task.name, scene.name, loss, seed), ModelId.of(sol.name, scene.name, sol.losses[0], seed)
    starts, steps = sol.rollouts(scene.frames)
    args = argv("evaluate rollout", data=relative(scene.data_id("test", "coarse")),
                sol=relative(corrector.train, f"{RUN}/{BEST}"), fine=relative(scene.data_id("test", "fine")),
                sr=relative(model.train, f"{RUN}/{BEST}"), start=starts, steps=steps, metrics=config.metrics,
                out=relative(model.pipe, EVALUATION))
    return Cell(model.pipe, "evaluate", tuple(args),
                (model.train, corrector.train, scene.data_id("test", "coarse"), scene.data_id("test", "fine")),
                task=task.name, scene=scene.name, loss=loss, seed=seed, group=model.train,
                units=scene.test_simulations * len(starts) * steps)


def render_loss(task: TaskSpec, config: StudyConfig) -> str:
    """The loss whose SOL model the rendered comparison shows: `render_loss`, else the task's first loss besides mse."""
    others = [loss for loss in task.losses if loss != "mse"]
    return task.get("render_loss", others[0] if others else task.losses[0])


def render_cell(task: TaskSpec, scene: SceneSpec, config: StudyConfig) -> Cell:
    """`fluidloss simulate --render` of one SOL model of the first training seed on the first test simulation:
    coarse | coarse+SOL | reference panels."""
    loss, seed = render_loss(task, config), config.seeds_of(task)[0]
    train_id, cell_id = ModelId.of(task.name, scene.name, loss, seed).train, f"render/{task.name}/{scene.name}"
    starts, steps = task.rollouts(scene.frames)
    from fluidloss_cli.engine.scenes import scene_class  # loads PhiFlow: only when renders are planned

    quantity = scene_class(scene.kind).render_quantity
    args = argv("simulate", scene=scene.kind, source=relative(scene.data_id("test", "coarse")),
                start=starts[0], steps=steps, sol=relative(train_id, f"{RUN}/{BEST}"), quantity=quantity,
                out=relative(cell_id, "rollout.h5"), render=relative(cell_id, RENDER))
    return Cell(cell_id, "render", tuple(args), (train_id, scene.data_id("test", "coarse")), task=task.name,
                scene=scene.name, loss=loss, seed=seed, units=steps, group=train_id, extra={"steps": steps})


def plan_cells(config: StudyConfig) -> list[Cell]:
    """Every cell of the study, dependencies before dependants, in the order they run: the data, then seed by seed
    every task, scene and loss (an interrupted study has compared every loss on its first seeds) and the SR models'
    rollout use cases, the renders last."""
    cells = [cell for scene in config.scenes.values() for cell in data_cells(scene)]
    every_seed = dict.fromkeys(seed for task in config.tasks.values() for seed in config.seeds_of(task))
    for seed in sorted(every_seed):
        pipelines = []  # after every model of the seed: they need an SR and a SOL model
        for task in (task for task in config.tasks.values() if seed in config.seeds_of(task)):
            for scene in (config.scenes[name] for name in task.scenes):
                for loss in task.losses:
                    cells += model_cells(task, scene, loss, seed, config)
                    if scene.name in pipeline_scenes(task, config.tasks):
                        pipelines.append(pipeline_cell(task, scene, loss, seed, config))
        cells += pipelines
    for task in (t for t in config.tasks.values() if t.kind == "sol"):
        cells += [render_cell(task, config.scenes[name], config) for name in task.scenes]
    return cells


def closure(cells: dict[str, Cell], chosen: list[str]) -> list[str]:
    """`chosen` and every cell they depend on, directly or not, in the order of `cells`."""
    needed, stack = set(), list(chosen)
    while stack:
        cell_id = stack.pop()
        if cell_id not in needed:
            needed.add(cell_id)
            stack += cells[cell_id].deps
    return [cell_id for cell_id in cells if cell_id in needed]
