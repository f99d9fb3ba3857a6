"""A study's TOML config: scenes and their train/test simulations, tasks, losses, seeds, epochs and metrics, read and
checked in full before any work, every problem one line.

Layout (docs/study.md): top-level `name`, `device`, `seeds` (training seeds), `epochs`, `batch_size`, `losses`,
`metrics`; `[slurm]` (the defaults of `study submit`'s job resources); a `[scenes.NAME]` table per scene (`fine`, `coarse`, `frames`, `warmup`, `train_re`, `train_seeds`,
`test_re`, `test_seeds`); a `[tasks.NAME]` table per task (sol, sr, ae) with that task's options. A table may be
a named variant: `scene = "karman"` in `[scenes.karman_low]` (two Reynolds ranges of one scene), `task = "sol"` in
`[tasks.sol_fp32]` (the same task with other options), and a task's `losses` may be a subset of the study's.
"""

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.defaults import DEFAULT_METRICS, VAL_SPLIT
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.paths import read_text_file
from fluidloss_cli.engine.study.scene_spec import SceneSpec, parse_scene, parse_shared_scene
from fluidloss_cli.engine.study.slurm import check_resources
from fluidloss_cli.engine.study.toml_values import numbers, typed
from fluidloss_cli.engine.task_options import TASK_OPTIONS, TRAINING, all_options, study_keys

TOP_KEYS = {"name": str, "device": str, "seeds": list, "epochs": int, "batch_size": int, "losses": list,
            "metrics": str, "scenes": dict, "tasks": dict, "slurm": dict}
SLURM_KEYS = {"partition": str, "time": str, "cpus_per_task": int, "gpus_per_task": int, "mem": str,
              "sbatch_args": list}
"""`[slurm]`: the defaults of `study submit`'s resources per job (not part of the study's digest: they change no
result)."""
STUDY_TASK_KEYS = {"task": str, "scenes": list, "losses": list, "seeds": list, "lrs": dict}
"""The keys of every `[tasks.NAME]` table that say what the study trains (not options of a command)."""
EVALUATION_KEYS = {"sol": {"start": list, "steps": int, "render_loss": str},
                   "sr": {"start": int, "stride": int, "rollout_sol": str}, "ae": {"start": int, "stride": int}}
"""Task -> the keys of its evaluation (`evaluate rollout` / `evaluate frames`) and rendering."""


def task_keys(kind: str) -> dict[str, type]:
    """The keys a `[tasks.NAME]` table of task `kind` takes, with their types: the study's own, the training options
    task_options declares for a study (`fluidloss train KIND`'s), and its evaluation's."""
    return STUDY_TASK_KEYS | study_keys(kind) | EVALUATION_KEYS.get(kind, {})
RECOMMENDED_SEEDS = 3


@dataclass(frozen=True)
class TaskSpec:
    """One task of the study with its options (training options and evaluation options), its scenes and losses."""

    name: str
    """The table's name: the task's name in cell ids and the report."""
    kind: str
    """The task it trains: sol, sr or ae (the name, unless the table sets `task`)."""
    scenes: tuple[str, ...]
    losses: tuple[str, ...]
    options: dict[str, Any] = field(hash=False)
    seeds: tuple[int, ...] = ()
    """The task's own training seeds (`seeds` in its table; a learning-rate sweep trains one), else the study's."""
    lrs: dict[str, float] = field(default_factory=dict, hash=False)
    """Loss -> its learning rate where it differs from the task's `lr` (`lrs` in its table: each loss at the rate
    its sweep chose)."""

    def lr_of(self, loss: str) -> float | None:
        """The learning rate `loss` trains with: its own (`lrs`), the task's `lr`, or None for the command's default."""
        return self.lrs.get(loss, self.options.get("lr"))

    def get(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)

    def rollouts(self, frames: int) -> tuple[list[int], int]:
        """A SOL task's test rollouts on a scene of `frames` frames: their start frames and steps (by default, to
        the last frame from the last start)."""
        starts = self.get("start", [0])
        return starts, self.get("steps", frames - 1 - max(starts, default=0))


@dataclass(frozen=True)
class StudyConfig:
    """A checked study config and the digest of its content (a study folder belongs to one config)."""

    name: str
    device: str
    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    losses: tuple[str, ...]
    metrics: str
    scenes: dict[str, SceneSpec] = field(hash=False)
    tasks: dict[str, TaskSpec] = field(hash=False)
    digest: str = ""
    warnings: tuple[str, ...] = ()
    slurm: dict[str, Any] = field(default_factory=dict, hash=False)

    def seeds_of(self, task: TaskSpec) -> tuple[int, ...]:
        return task.seeds or self.seeds

    def epochs_of(self, task: TaskSpec) -> int:
        return int(task.get("epochs", self.epochs))

    def batch_of(self, task: TaskSpec) -> int:
        return int(task.get("batch_size", self.batch_size))


def _task(name: str, data: dict, scenes: dict[str, SceneSpec], losses: tuple[str, ...]) -> TaskSpec:
    """One `[tasks.NAME]` table: a known task, known options of the right types, scenes and losses of the study."""
    kind = data.get("task", name)
    if kind not in TASK_OPTIONS:
        raise FluidlossError(f"tasks.{name}: unknown task {kind!r}; choose from {', '.join(TASK_OPTIONS)} (or name one "
                             f"with task = ...)")
    options = dict(typed(f"tasks.{name}", data, task_keys(kind)))
    options.pop("task", None)
    for option in all_options(kind):
        if option.study and option.name in options:
            option.validate(options[option.name], f"tasks.{name}.{option.name}")
    chosen = tuple(options.pop("scenes", list(scenes)))
    if not chosen:
        raise FluidlossError(f"tasks.{name}.scenes names no scene; leave it out to train on every scene")
    unknown = sorted(set(chosen) - set(scenes))
    if unknown:
        raise FluidlossError(f"tasks.{name}.scenes: {', '.join(map(str, unknown))} not among the study's scenes "
                             f"({', '.join(scenes)})")
    own = tuple(str(loss).strip().lower() for loss in options.pop("losses", losses))
    foreign = [loss for loss in own if loss not in losses]
    if not own or foreign or len(set(own)) < len(own):
        raise FluidlossError(f"tasks.{name}.losses must name study losses ({', '.join(losses)}), each once; got "
                             f"{list(own)}")
    if "render_loss" in options and options["render_loss"].strip().lower() not in own:
        raise FluidlossError(f"tasks.{name}.render_loss {options['render_loss']!r} is not one of the task's losses "
                             f"({', '.join(own)})")
    seeds = numbers(f"tasks.{name}.seeds", options.pop("seeds", []), int)
    if len(set(seeds)) < len(seeds):
        raise FluidlossError(f"tasks.{name}.seeds must name non-negative training seeds, each once; got {list(seeds)}")
    lrs = {str(loss).strip().lower(): rate for loss, rate in options.pop("lrs", {}).items()}
    lr = next(option for option in all_options(kind) if option.name == "lr")
    for loss, rate in lrs.items():
        if loss not in own or isinstance(rate, bool) or not isinstance(rate, int | float):
            raise FluidlossError(f"tasks.{name}.lrs: {loss!r} = {rate!r}; give each of the task's losses "
                                 f"({', '.join(own)}) a learning rate")
        lr.validate(rate, f"tasks.{name}.lrs.{loss}")
    return TaskSpec(name, kind, chosen, own, options, seeds, {loss: float(rate) for loss, rate in lrs.items()})


def pipeline_scenes(task: TaskSpec, tasks: dict[str, TaskSpec]) -> tuple[str, ...]:
    """The scenes on which an SR task's models also run after a SOL model (`rollout_sol`): those both tasks train on."""
    sol = tasks.get(task.get("rollout_sol", ""))
    return tuple(scene for scene in task.scenes if sol and scene in sol.scenes)


def _check_pipelines(tasks: dict[str, TaskSpec], seeds: tuple[int, ...]) -> None:
    """`rollout_sol` names a SOL task of the study that trains on one of the SR task's scenes, with its seeds."""
    for task in (t for t in tasks.values() if "rollout_sol" in t.options):
        where, named = f"tasks.{task.name}.rollout_sol", task.options["rollout_sol"]
        sol = tasks.get(named)
        if sol is None or sol.kind != "sol":
            raise FluidlossError(f"{where}: {named!r} is not a SOL task of the study "
                                 f"({', '.join(t.name for t in tasks.values() if t.kind == 'sol') or 'none'})")
        if not pipeline_scenes(task, tasks):
            raise FluidlossError(f"{where}: {named} trains on none of {task.name}'s scenes ({', '.join(task.scenes)})")
        missing = sorted(set(task.seeds or seeds) - set(sol.seeds or seeds))
        if missing:
            raise FluidlossError(f"{where}: {named} trains no model of seed {', '.join(map(str, missing))}")


def _check_fits(config: StudyConfig) -> None:
    """Every task's frames: enough training samples for a batch, rollouts and frames within the test data."""
    for task in config.tasks.values():
        for scene in (config.scenes[s] for s in task.scenes):
            where = f"tasks.{task.name} on {scene.name}"
            window = task.get("unroll", 4) + 1 if task.kind == "sol" else 1
            samples = (scene.frames - window + 1) * scene.train_simulations
            training = samples - round(samples * VAL_SPLIT)
            if training < config.batch_of(task) or round(samples * VAL_SPLIT) < 1:
                raise FluidlossError(f"{where}: {samples} samples ({scene.frames} frames, window {window}) leave "
                                     f"{training} for training, fewer than batch_size {config.batch_of(task)} (or no "
                                     f"validation sample)")
            if task.kind == "sol":
                starts, steps = task.rollouts(scene.frames)
                if not starts or min(starts) < 0 or max(starts) + steps > scene.frames - 1 or steps < 1:
                    raise FluidlossError(f"{where}: rollouts from frames {starts} of {steps} steps do not fit in "
                                         f"{scene.frames} frames")
            elif task.get("start", 0) >= scene.frames or task.get("stride", 1) < 1:
                raise FluidlossError(f"{where}: start {task.get('start', 0)} and stride {task.get('stride', 1)} "
                                     f"choose no frame of {scene.frames}")


def parse_config(text: str, where: str = "study config") -> StudyConfig:
    """Check a study config's TOML text in full and return it; the first problem found is a one-line error."""
    from fluidloss_cli.engine.loss_names import parse_metrics, parse_spec

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FluidlossError(f"{where} is not valid TOML: {exc}") from None
    data = typed(where, data, TOP_KEYS, ("losses", "scenes", "tasks"))
    slurm = typed(f"{where}: slurm", data.pop("slurm", {}), SLURM_KEYS)
    if not all(isinstance(arg, str) for arg in slurm.get("sbatch_args", [])):
        raise FluidlossError(f"{where}: slurm.sbatch_args must be a list of strings")
    check_resources(slurm, lambda key: f"{where}: slurm.{key}")
    if not data["scenes"] or not data["tasks"]:
        raise FluidlossError(f"{where}: name at least one scene ([scenes.NAME]) and one task ([tasks.NAME])")
    for key in ("scenes", "tasks"):
        for name, table in data[key].items():
            if not isinstance(table, dict):
                raise FluidlossError(f"{where}: {key}.{name} must be a table")
    scenes: dict[str, SceneSpec] = {}
    for name, table in data["scenes"].items():
        scenes[name] = parse_shared_scene(name, table, scenes) if "fine_from" in table else parse_scene(name, table)
    losses = tuple(str(loss).strip().lower() for loss in data["losses"])
    if not losses or len(set(losses)) < len(losses):
        raise FluidlossError(f"{where}: losses must name at least one loss, each once; got {data['losses']!r}")
    for loss in losses:
        parse_spec(loss)
    tasks = {name: _task(name, table, scenes, losses) for name, table in data["tasks"].items()}
    metrics = ",".join(parse_metrics(data.get("metrics", DEFAULT_METRICS)))
    seeds = numbers(f"{where}: seeds", data.get("seeds", [0, 1, 2]), int)
    if not seeds or len(set(seeds)) < len(seeds):
        raise FluidlossError(f"{where}: seeds must name at least one training seed, each once; got {list(seeds)}")
    for option in TRAINING:
        if option.name in ("epochs", "batch_size"):
            option.validate(data.get(option.name), f"{where}: {option.name}")
    warnings = (f"{len(seeds)} training seed(s): {RECOMMENDED_SEEDS} or more are needed to tell a difference between "
                f"losses from the spread of the seeds",) if len(seeds) < RECOMMENDED_SEEDS else ()
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    device = data.get("device", "auto")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device.strip().lower()):
        raise FluidlossError(f"{where}: device {device!r}: expected auto, cpu, cuda or cuda:N")
    config = StudyConfig(name=data.get("name", "study"), device=data.get("device", "auto"), seeds=seeds,
                         epochs=data.get("epochs", 10), batch_size=data.get("batch_size", 16), losses=losses,
                         metrics=metrics, scenes=scenes, tasks=tasks, digest=digest, warnings=warnings,
                         slurm=slurm)
    _check_fits(config)
    _check_pipelines(tasks, seeds)
    return config


def read_config(path: Path) -> StudyConfig:
    """Read and check a study config file."""
    return parse_config(read_text_file(path, "study config"), str(path))
