"""Time estimates of a study's cells from measured throughput, and of the whole study on N workers.

Throughput comes from finished cells: those of an earlier study folder, or of a probe, a miniature of the study
(same scenes, grids, tasks and options; one simulation, one seed, one epoch, a few frames, one loss per cost class)
run first in a temporary folder. A cell is modelled as a fixed start-up (the shortest finished cell: loading torch
and PhiFlow) plus seconds per unit of work (frames simulated, samples trained, frames evaluated) measured for cells
of the same kind, task, scene and loss cost class.
"""

import dataclasses
import math
import shlex
import tempfile
from pathlib import Path

from fluidloss_cli.engine.defaults import VAL_SPLIT
from fluidloss_cli.engine.loss_names import cost_class
from fluidloss_cli.engine.study.cells import Cell, plan_cells
from fluidloss_cli.engine.study.config import StudyConfig
from fluidloss_cli.engine.study.files import read_json
from fluidloss_cli.engine.study.layout import CELLS, PLAN, RESULT
from fluidloss_cli.engine.study.runner import Runner, write_plan


@dataclasses.dataclass
class Rates:
    """Start-up seconds per cell and seconds per unit by cell key, and where they were measured."""

    startup: float
    per_unit: dict[str, float]
    source: str

    def seconds(self, cell: Cell) -> float | None:
        """A cell's estimated wall time; None when no cell of its key was measured (e.g. skipped for weights)."""
        rate = self.per_unit.get(cell.key)
        return None if rate is None else self.startup + rate * cell.units


def finished_results(folder: Path) -> dict[str, dict]:
    """Cell id -> result of every finished cell of a study folder that records its wall time, read from its
    `cells/<id>/result.json` files alone: a published or copied study folder without plan.json has them too."""
    found: dict[str, dict] = {}
    for path in sorted((folder / CELLS).rglob(RESULT)):
        result = read_json(path)
        if isinstance(result, dict) and result.get("status") == "done" and "wall_s" in result:
            found[result.get("id") or path.parent.relative_to(folder / CELLS).as_posix()] = result
    return found


def ran_as(cell: Cell, result: dict) -> bool:
    """Whether a result was measured for this very cell: its command is the cell's arguments, options in any order,
    plus what the runner appends (--device, --resume); so the same work, not a cell of the same id in another study."""
    try:
        words = shlex.split(str(result.get("command", "")))
    except ValueError:
        return False
    ran = [group for group in option_groups(words[1:]) if group[0] not in RUNNER_FLAGS]
    return sorted(ran) == sorted(option_groups(list(cell.args)))


RUNNER_FLAGS = ("--device", "--resume")
"""Options the runner adds to a cell's command line."""


def option_groups(words: list[str]) -> list[tuple[str, ...]]:
    """A command line as groups: the command's words and arguments, then each option with its values (a switch
    alone), so that two lines with the same options in another order compare equal."""
    groups: list[list[str]] = [[]]
    for word in words:
        if word.startswith("--"):
            groups.append([])
        groups[-1].append(word)
    return [tuple(group) for group in groups]


def planned_cells(folder: Path) -> dict[str, Cell]:
    """The cells of a study folder's plan.json by id (none without one: a published folder)."""
    plan = read_json(folder / PLAN) or {"cells": []}
    return {c["id"]: Cell(**{k: tuple(v) if k in ("args", "deps") else v for k, v in c.items()}) for c in plan["cells"]}


def measured(folder: Path, source: str, known: dict[str, Cell] | None = None) -> Rates:
    """Rates from the finished cells of a study folder. A cell's work (units) and cost class come from the folder's
    plan.json; a cell it lacks (no plan.json: a published folder) is taken as the cell of the same id in `known`
    (the cells of the study being planned) where its recorded command is that cell's, and skipped otherwise."""
    planned = planned_cells(folder)
    timed = []
    for cell_id, result in finished_results(folder).items():
        cell = planned.get(cell_id)
        if cell is None and cell_id in (known or {}) and ran_as(known[cell_id], result):
            cell = known[cell_id]
        if cell is not None:
            timed.append((cell, float(result["wall_s"])))
    if not timed:
        return Rates(0.0, {}, source)
    startup = min(wall for _, wall in timed)
    per_unit: dict[str, list[float]] = {}
    for cell, wall in timed:
        per_unit.setdefault(cell.key, []).append(max(wall - startup, 0.0) / max(cell.units, 1e-9))
    return Rates(startup, {key: sum(v) / len(v) for key, v in per_unit.items()}, source)


def left_to_run(folder: Path, left: list[str]) -> tuple[Rates, list[Cell], dict[str, float], int]:
    """The estimate of the cells `left` of a study folder from its own finished cells: the rates, those cells, each
    one's seconds (0 where none of its kind finished) and how many of them are not measured."""
    planned = planned_cells(folder)
    rates = measured(folder, "this study's finished cells")
    cells = [planned[cell_id] for cell_id in left]
    estimates = {cell.id: rates.seconds(cell) for cell in cells}
    seconds = {cell_id: value or 0.0 for cell_id, value in estimates.items()}
    return rates, cells, seconds, sum(value is None for value in estimates.values())


def probe_config(config: StudyConfig) -> StudyConfig:
    """The study in miniature: one training and test simulation, one seed, one epoch, one loss per cost class, and
    just enough frames for a batch and a rollout."""
    def one_per_family(losses: tuple[str, ...]) -> tuple[str, ...]:
        """The first loss of each cost class."""
        families: dict[str, str] = {}
        for loss in losses:
            families.setdefault(cost_class(loss), loss)
        return tuple(families.values())

    tasks, scenes = {}, {}
    for name, task in config.tasks.items():
        options = dict(task.options)
        options["start"] = [0] if task.kind == "sol" else 0
        tasks[name] = dataclasses.replace(task, options=options, losses=one_per_family(task.losses))
    for name, scene in config.scenes.items():
        window = max((t.get("unroll", 4) + 1 for t in config.tasks.values() if t.kind == "sol"), default=1)
        batch = max(config.batch_of(t) for t in config.tasks.values())
        frames = min(scene.frames, max(12, math.ceil(batch / (1 - 2 * VAL_SPLIT)) + window + 1))
        scenes[name] = dataclasses.replace(scene, frames=frames, warmup=0, train_re=scene.train_re[:1],
                                           train_seeds=scene.train_seeds[:1], test_re=scene.test_re[:1],
                                           test_seeds=scene.test_seeds[:1])
    for name, task in tasks.items():
        if task.kind == "sol":
            shortest = min(scenes[s].frames for s in task.scenes)
            task.options["steps"] = min(task.get("steps", shortest - 1), shortest - 1)
    return dataclasses.replace(config, seeds=config.seeds[:1], epochs=1, losses=one_per_family(config.losses),
                               scenes=scenes, tasks={n: dataclasses.replace(t, options={**t.options, "epochs": 1})
                                                     for n, t in tasks.items()}, digest=config.digest + "-probe")


def probe(config: StudyConfig, workers: int, on_event=lambda cell_id, what: None) -> Rates:
    """Run the miniature study in a temporary folder on `workers` slots and measure its cells."""
    small = probe_config(config)
    cells = plan_cells(small)
    with tempfile.TemporaryDirectory(prefix="fluidloss-probe-") as folder:
        out = Path(folder)
        write_plan(out, small, "", cells)
        runner = Runner(out, {c.id: c for c in cells}, config.device, workers, [], on_event)
        runner.run([c.id for c in cells])
        rates = measured(out, f"a probe run of {len(runner.outcome.ran)} miniature cells")
    return rates


def schedule(cells: list[Cell], seconds: dict[str, float], workers: int) -> float:
    """Wall time of running `cells` on `workers` slots as the runner does: whenever a slot is free, the first cell
    in plan order whose needs are done starts on it (needs outside `cells` are done already), so a slot never waits
    for one cell while another could run."""
    ids = {cell.id for cell in cells}
    waiting, running, done = list(cells), [], set()
    now = 0.0
    while waiting or running:
        while len(running) < workers:
            ready = next((c for c in waiting if all(d in done or d not in ids for d in c.deps)), None)
            if ready is None:
                break
            waiting.remove(ready)
            running.append((now + seconds.get(ready.id, 0.0), ready.id))
        if not running:  # what waits needs a cell that never runs
            break
        running.sort()
        now, finished = running.pop(0)
        done.add(finished)
    return now
