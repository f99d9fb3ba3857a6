"""Running a study's cells: each one `fluidloss` command, run by worker processes (`fluidloss_cli.study_worker`,
one per slot, libraries loaded once) in parallel, resumable.

A cell is finished when `cells/<id>/result.json` exists and so does its main output (`layout.OUTPUTS`); the result
is written atomically after the command succeeded, so a run killed at any moment (even with kill -9: the workers die
with the runner) leaves the cells it was running unfinished, and the next run redoes exactly those (a training cell
continues from its last finished epoch). A cell runs under a lock (`locks/`, engine/study/cell_lock.py), so shards
and Slurm jobs sharing a study folder make each data cell once; a lock whose process or job is gone is taken over.
A Slurm job runs its cells with this runner too (engine/study/job.py).
"""

import datetime
import os
import queue
import shlex
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.command_line import command_of, options
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.study.cells import Cell
from fluidloss_cli.engine.study.config import StudyConfig
from fluidloss_cli.engine.study.files import read_json, write_json, write_text
from fluidloss_cli.engine.study.cell_lock import CellLock
from fluidloss_cli.engine.study.layout import FAILED, LOG, PLAN, RESULT, cell_folder, produced, run_folder
from fluidloss_cli.engine.results import LAST
from fluidloss_cli.engine.study.worker import Worker

POLL_S = 0.1
DEVICE_KINDS = ("train", "evaluate", "render")
"""Cell kinds whose commands take --device."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def result_of(out: Path, cell_id: str) -> dict | None:
    """A cell's recorded result (status done or skipped), or None while it is unfinished; a cell recorded done whose
    main output is gone (deleted, or lost in a copy: layout.OUTPUTS) counts as unfinished, so the next run redoes it."""
    found = read_json(cell_folder(out, cell_id) / RESULT)
    if found and found.get("status") == "done" and not produced(out, cell_id, found.get("kind", "")):
        return None
    return found


def checkpoint(out: Path, cell_id: str) -> Path:
    """The checkpoint a training cell continues from (`train --resume`)."""
    return run_folder(out, cell_id) / LAST


def write_result(out: Path, cell: Cell, status: str, **facts: Any) -> None:
    """Write a finished cell's result.json (atomically: the mark of a finished cell)."""
    write_json(cell_folder(out, cell.id) / RESULT, {"id": cell.id, "kind": cell.kind, "status": status, "finished": now(),
                                                **facts})


def check_plan(out: Path, config: StudyConfig) -> None:
    """Refuse a folder that holds the study of another config: its cells would be taken for this one's (also on a
    dry run, which writes nothing but would describe the wrong cells as finished)."""
    earlier = read_json(out / PLAN)
    if earlier is not None and earlier.get("digest") != config.digest:
        raise FluidlossError(f"{out} holds the study of another config ({earlier.get('name')}, digest "
                             f"{earlier.get('digest')}, this one {config.digest}): choose another --out")


def write_plan(out: Path, config: StudyConfig, text: str, cells: list[Cell]) -> None:
    """Record the config and its cells in `out/plan.json`, refusing a folder that holds a study of another config."""
    check_plan(out, config)
    write_text(out / "study.toml", text)
    write_json(out / PLAN, {"name": config.name, "digest": config.digest, "device": config.device,
                            "seeds": list(config.seeds),
                            "losses": list(config.losses), "metrics": config.metrics.split(","),
                            "tasks": {name: {"kind": t.kind, "scenes": list(t.scenes), "losses": list(t.losses),
                                             "seeds": list(config.seeds_of(t)), "options": t.options}
                                      for name, t in config.tasks.items()},
                            "scenes": {name: {"kind": s.kind, "fine": str(s.fine), "coarse": str(s.coarse), "frames": s.frames,
                                              "warmup": s.warmup, "train_simulations": s.train_simulations,
                                              "test_simulations": s.test_simulations, "ood": s.ood,
                                              "fine_from": s.fine_from}
                                       for name, s in config.scenes.items()},
                            "cells": [cell.to_json() for cell in cells]})


@cache
def missing_weights(loss: str) -> str | None:
    """Why a loss cannot be built on this machine (its weight files are missing), or None when it can."""
    from fluidloss_cli.engine.losses import build_loss

    try:
        build_loss(loss, "cpu")
    except FluidlossError as exc:
        return str(exc)
    return None


def resolve(device: str) -> str:
    """The study's device for the commands: `auto` becomes cuda when a GPU is visible, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpus() -> int:
    """The CPUs this process may use: a Slurm job's `--cpus-per-task`, else the CPUs of its affinity."""
    return int(os.environ.get("SLURM_CPUS_PER_TASK") or len(os.sched_getaffinity(0)))


def skip_reason(out: Path, cell: Cell, status: dict[str, str], weights: bool = True) -> dict | None:
    """Why a cell is skipped (a dependency was skipped, or, when `weights`, its loss's weights are missing here) as
    the facts of its result, or None when it runs."""
    skipped = [d for d in cell.deps if status.get(d) == "skipped"]
    if skipped:
        return {"reason": result_of(out, skipped[0])["reason"]}
    if weights and cell.kind == "train" and missing_weights(cell.loss):
        return {"reason": "weights missing", "detail": missing_weights(cell.loss)}
    return None


@dataclass
class Running:
    """A cell's command in progress on a worker."""

    cell: Cell
    lock: CellLock
    slot: int
    device: str
    command: str
    started: float = field(default_factory=time.time)


@dataclass
class Outcome:
    """What a run did: cells it ran, skipped, found finished, failed, or could not run as a dependency failed."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


class Runner:
    """Runs chosen cells of a study folder over `workers` slots (slot k uses GPU gpus[k % len] if given)."""

    def __init__(self, out: Path, cells: dict[str, Cell], device: str, workers: int, gpus: list[str],
                 on_event: Callable[[str, str], None] = lambda cell_id, what: None, check_weights: bool = True):
        if workers < 1:
            raise FluidlossError(f"--workers must be at least 1, got {workers}")
        self.out, self.cells, self.workers, self.gpus, self.on_event = out, cells, workers, gpus, on_event
        self.check_weights = check_weights
        """False where the weights were looked up before (study submit): spares this process loading torch."""
        self.device = resolve(device)
        self.threads = max(1, cpus() // workers)
        self.status: dict[str, str] = {}
        self.running: dict[str, Running] = {}
        self.workers_by_slot: dict[int, Worker] = {}
        self.answers: queue.Queue = queue.Queue()
        self.outcome = Outcome()

    def describe(self, cell: Cell, slot: int) -> str:
        """The device a cell runs on, in words."""
        host = socket.gethostname()
        if cell.uses_device and self.device.startswith("cuda"):
            return f"cuda (GPU {self.gpus[slot % len(self.gpus)]}) on {host}" if self.gpus else f"{self.device} on {host}"
        return f"cpu ({self.threads} thread{'s' * (self.threads > 1)}) on {host}"

    def worker(self, slot: int) -> Worker:
        """The slot's worker process, started when first needed (threads, GPU and hash seed in its environment)."""
        if slot not in self.workers_by_slot:
            env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads),
                       PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"))
            if self.gpus:
                env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
            self.workers_by_slot[slot] = Worker(slot, env, self.answers)
        return self.workers_by_slot[slot]

    def record(self, cell: Cell, status: str, **facts: Any) -> None:
        """Write a finished cell's result.json (last, atomically) and note its status."""
        write_result(self.out, cell, status, **facts)
        self.status[cell.id] = status
        (self.outcome.ran if status == "done" else self.outcome.skipped).append(cell.id)
        self.on_event(cell.id, status if status == "done" else f"skipped: {facts.get('reason', '')}")

    def start(self, cell: Cell, lock: CellLock, slot: int) -> None:
        """Start a cell's command: a training cell that an interrupted attempt left with a checkpoint continues from
        it (`train --resume`: the same result as an uninterrupted run); any other leftover is cleared first, as is a
        finished training whose best.pt was lost (its last.pt holds the last epoch, not the best one)."""
        folder = cell_folder(self.out, cell.id)
        resume = cell.kind == "train" and checkpoint(self.out, cell.id).is_file() and not (folder / RESULT).exists()
        if not resume:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FAILED).unlink(missing_ok=True)
        extra = {"device": self.device} if cell.kind in DEVICE_KINDS else {}
        args = [*cell.args, *options(command_of(cell.args), **extra | ({"resume": True} if resume else {}))]
        device = self.describe(cell, slot)
        self.worker(slot).send({"id": cell.id, "args": args, "cwd": str(self.out.resolve()),
                                "log": str((folder / LOG).resolve())})
        self.running[cell.id] = Running(cell, lock, slot, device, shlex.join(["fluidloss", *args]))
        self.on_event(cell.id, f"started on {device}")

    def finish(self, run: Running, status: int, wall: float) -> None:
        """Record a command that ended: its result when it succeeded, failed.json (not a result) when not."""
        facts = dict(wall_s=wall, device=run.device, command=run.command, threads=self.threads)
        if status == 0:
            self.record(run.cell, "done", **facts)
        else:
            log = cell_folder(self.out, run.cell.id) / LOG
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            write_json(cell_folder(self.out, run.cell.id) / FAILED, {"id": run.cell.id, "status": "failed",
                                                                 "returncode": status, "log_tail": tail, **facts})
            self.status[run.cell.id] = "failed"
            self.outcome.failed.append(run.cell.id)
            self.on_event(run.cell.id, f"failed (exit {status}): {tail[-1] if tail else ''}")
        run.lock.release()
        del self.running[run.cell.id]

    def collect(self) -> None:
        """Wait briefly for answers of the workers and record the cells they finished (or lost with a worker)."""
        try:
            slot, answer = self.answers.get(timeout=POLL_S)
        except queue.Empty:
            return
        run = next((r for r in self.running.values() if r.slot == slot), None)
        if answer is None:  # the worker died: its cell failed, the slot gets a new worker
            dead = self.workers_by_slot.pop(slot)
            if run is not None:
                self.finish(run, dead.process.wait() or 1, round(time.time() - run.started, 3))
        elif run is not None:
            self.finish(run, int(answer["rc"]), float(answer["wall_s"]))

    def try_cell(self, cell: Cell, free: list[int]) -> None:
        """Settle or start a cell whose dependencies are settled: blocked, skipped, finished elsewhere, or run."""
        deps = [self.status[d] for d in cell.deps]
        if any(s in ("failed", "blocked") for s in deps):
            self.status[cell.id] = "blocked"
            self.outcome.blocked.append(cell.id)
            return
        found = result_of(self.out, cell.id)
        if found is not None:
            self.status[cell.id] = found["status"]
            return
        skip = skip_reason(self.out, cell, self.status, self.check_weights)
        if skip is not None:
            self.record(cell, "skipped", **skip)
            return
        if not free:
            return
        lock = CellLock(self.out, cell.id)
        if lock.acquire():
            if result_of(self.out, cell.id) is not None:  # finished by another process since we looked
                lock.release()
                return
            self.start(cell, lock, free.pop(0))

    def run(self, chosen: list[str]) -> Outcome:
        """Run the chosen cells (ids in dependency order) that are unfinished; return what happened. Cells they
        need that are not chosen must be finished already: those that are not block the cells that need them."""
        for dep in {d for cell_id in chosen for d in self.cells[cell_id].deps} - set(chosen):
            found = result_of(self.out, dep)
            self.status[dep] = found["status"] if found is not None else "blocked"
        for cell_id in chosen:
            found = result_of(self.out, cell_id)
            if found is not None:
                self.status[cell_id] = found["status"]
                self.outcome.reused.append(cell_id)
        try:
            while any(cell_id not in self.status for cell_id in chosen):
                free = [k for k in range(self.workers) if k not in {r.slot for r in self.running.values()}]
                for cell_id in chosen:
                    cell = self.cells[cell_id]
                    if cell_id not in self.status and cell_id not in self.running and \
                            all(d in self.status for d in cell.deps):
                        self.try_cell(cell, free)
                if self.running:
                    self.collect()
                else:
                    time.sleep(POLL_S)  # waiting for cells another process holds
        finally:
            for worker in self.workers_by_slot.values():  # done or interrupted: unfinished cells stay unfinished
                worker.stop()
            for run in self.running.values():
                run.lock.release()
        return self.outcome
