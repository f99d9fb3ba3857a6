"""The training loop shared by every task: epochs of shuffled mini-batches, validation, checkpoints, metrics.

The run directory's files are those of `run_files`. An interrupted epoch is lost and nothing else: `resume=True`
restores model, optimizer, scheduler and random states from `last.pt`, and shuffling is seeded per epoch, so the
resumed run continues exactly as the uninterrupted one would have. Started by torch's launcher, each process trains
its share of every batch (see `distributed`) and rank 0 alone writes the files.
"""

import math
import time
import weakref
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader

from fluidloss_cli.engine.atomic import check_writable_dir
from fluidloss_cli.engine.checkpoints import load_checkpoint, save_checkpoint
from fluidloss_cli.engine.device import bf16_autocast, to_device
from fluidloss_cli.engine import interrupt
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.lock import acquire as acquire_lock
from fluidloss_cli.engine.lock import release as release_lock
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import build
from fluidloss_cli.engine.notice import warn
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.training.board import Board
from fluidloss_cli.engine.training.config import TrainConfig
from fluidloss_cli.engine.training.distributed import (
    World,
    check_world,
    global_mean,
    join,
    replicate,
    shares,
)
from fluidloss_cli.engine.training.divergence import divergence, stop_if_diverged, unchecked
from fluidloss_cli.engine.training.memory import check_training_memory
from fluidloss_cli.engine.training.rng import deterministic, epoch_order, rng_states, seed_everything, set_rng_states
from fluidloss_cli.engine.training.run_files import RunFiles, check_resumable, resume_key
from fluidloss_cli.engine.training.tasks.base import TaskSetup
from fluidloss_cli.engine.training.validation import validate


class Step(NamedTuple):
    """Progress after one optimizer step, for a progress bar."""

    epoch: int
    epochs: int
    samples_done: int
    samples_total: int
    loss: float


@dataclass(frozen=True)
class Result:
    """How a run ended: the best validation loss, its epoch, and where the checkpoints are."""

    best_val_loss: float
    best_epoch: int
    epochs: int
    files: RunFiles
    stopped_early: bool = False
    """Whether `patience` ended the run before its last epoch."""


def description(setup: TaskSetup, config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint says was trained on what: task, its options and facts, training options, loss, datasets."""
    return {"task": setup.task, "task_options": setup.options, "task_info": setup.info, "training": asdict(config),
            "loss": config.loss, "datasets": setup.datasets}


class Trainer:
    """One run: the constructor checks the options, builds model, loss and optimizer and restores a resumed run, so
    bad input fails before any work; `fit` trains the remaining epochs. Under torch's launcher (WORLD_SIZE set) it
    joins the other processes, each training its share of every global batch."""

    def __init__(self, setup: TaskSetup, config: TrainConfig, out: Path, device: torch.device, resume: bool = False,
                 overwrite: bool = False):
        """Check, build and (with `resume`) restore from `out/last.pt`; without it, start a new run in `out`."""
        self.world = World.from_env()
        if resume and overwrite:
            raise FluidlossError("--resume and --overwrite exclude each other: continue the run in --out or replace it")
        config.check(device)
        check_world(self.world.size, config.batch_size, device)
        if config.batch_size > len(setup.train):
            raise FluidlossError(f"--batch-size {config.batch_size} is larger than the {len(setup.train)} training "
                                 "samples")
        check_training_memory(setup, -(-config.batch_size // self.world.size), device)  # this process's share
        self.setup, self.config, self.files = setup, config, RunFiles(Path(out))
        self.unlock = self.lock() if self.world.main else lambda: None
        try:
            self.prepare(resume, overwrite, device)
        except BaseException:
            self.unlock()
            raise

    def lock(self) -> Callable[[], None]:
        """Take the run directory's lock (one run writes it at a time); returns what gives it back, which also runs
        when the trainer is discarded."""
        try:
            self.files.root.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FluidlossError(f"cannot create the run directory {self.files.root}: {exc.strerror or exc}") from None
        check_writable_dir(self.files.root.parent, self.files.root)
        fd = acquire_lock(self.files.root)
        return weakref.finalize(self, release_lock, self.files.root, fd)

    def prepare(self, resume: bool, overwrite: bool, device: torch.device) -> None:
        """Restore a resumed run or check the directory for a new one; build loss, model and optimizer."""
        setup, config = self.setup, self.config
        resume = resume and self.resumable()
        checkpoint = load_checkpoint(self.files.last) if resume else None
        self.resumed = checkpoint is not None
        """Whether this run continues from last.pt."""
        if checkpoint:
            check_resumable(checkpoint, self.files.last, resume_key(description(setup, config)))
        else:
            self.files.check_new(overwrite)
        self.device = join(self.world, device) if self.world.size > 1 else device
        self.loss = unchecked(build_loss(config.loss, self.device))
        seed_everything(config.seed)
        self.model = build(setup.model, setup.model_config).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.epochs) \
            if config.lr_schedule == "cosine" else torch.optim.lr_scheduler.ConstantLR(self.optimizer, 1.0, 0)
        self.epoch, self.best_val, self.best_epoch, self.reference = 0, math.inf, 0, None
        self.baseline_loss: float | None = None
        """The validation loss of the untrained model (see `measure_baseline`)."""
        if checkpoint:
            self.restore(checkpoint)
        self.validated = torch.compile(self.model) if config.compile else self.model
        """The model as validation runs it (compiled with --compile)."""
        self.trained = replicate(self.validated, self.world, self.device)  # waits for every process to pass the checks
        """The model as training steps run it (also wrapped by DistributedDataParallel with --nproc)."""
        if self.world.main and not checkpoint:
            self.start()

    def resumable(self) -> bool:
        """For --resume: True where last.pt continues the run; False (with a notice) where the run in the directory
        finished no epoch, which then starts afresh; else raise one line."""
        files = self.files
        if files.last.exists():
            return True
        if not files.existing():
            raise FluidlossError(f"--resume: {files.root} holds no run to continue (no last.pt)")
        if not files.unfinished():
            raise FluidlossError(f"--resume: {files.root} holds no last.pt to continue from; pass --overwrite to "
                                 "start the run again")
        if self.world.main:
            warn(f"{files.root}: the run there finished no epoch (no last.pt); starting it afresh")
        return False

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from `checkpoint`: weights, optimizer, schedule, random states, progress; drop later metrics."""
        self.model.load_state_dict(checkpoint["model"]["state"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        set_rng_states(checkpoint["rng"])
        self.epoch, self.reference = checkpoint["epoch"], checkpoint["reference_loss"]
        self.baseline_loss = checkpoint.get("baseline_loss")  # absent from checkpoints written before it
        self.best_val, self.best_epoch = checkpoint["best_val_loss"], checkpoint["best_epoch"]
        if self.world.main:
            self.files.keep_metrics_until(self.epoch)

    def start(self) -> None:
        """Begin a new run directory with its config.json."""
        setup = self.setup
        self.files.start()
        self.files.write_config({
            **resume_key(description(setup, self.config)), "model": {"name": setup.model, "config": setup.model_config},
            "task_info": setup.info, "datasets": setup.datasets, "provenance": provenance()})

    def autocast(self) -> Any:
        """Mixed precision when asked for: bf16 autocast on CUDA, and on CPUs (fast only where they have AVX512-BF16
        or AMX; a warning says so elsewhere)."""
        return bf16_autocast(self.device, self.config.amp)

    def state(self, val_loss: float) -> dict[str, Any]:
        """Everything a checkpoint holds: what was trained on what, and how to continue."""
        setup, config = self.setup, self.config
        return {
            **description(setup, config),
            "model": {"name": setup.model, "config": setup.model_config, "state": self.model.state_dict()},
            "parts": setup.export(self.model), "provenance": provenance(), "epoch": self.epoch, "val_loss": val_loss,
            "best_val_loss": self.best_val, "best_epoch": self.best_epoch, "reference_loss": self.reference,
            "baseline_loss": self.baseline_loss,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "rng": rng_states(),
        }

    def measure_baseline(self) -> float | None:
        """The validation loss of the task's baseline (`TaskSetup.baseline`: SOL's uncorrected solver, SR's bicubic
        upsampling), which is the untrained model's, its output starting at zero: measured once, before the first
        epoch (random states untouched, so training is the same with or without it), and kept in the checkpoints.
        None for a task without one, or a run resumed from a checkpoint written before it was measured."""
        if self.baseline_loss is None and self.epoch == 0 and self.setup.baseline is not None:
            states = rng_states()
            with deterministic(self.device):
                self.baseline_loss = validate(self.validated, self.loss, self.setup,
                                              self.config.batch_size // self.world.size, self.device, self.autocast,
                                              self.world)
            set_rng_states(states)
        return self.baseline_loss

    def fit(self, on_step: Callable[[Step], None] = lambda step: None,
            on_epoch: Callable[[dict], None] = lambda record: None) -> Result:
        """Train the epochs left: per epoch, shuffled mini-batches, validation, checkpoints, a metrics line."""
        with deterministic(self.device), ExitStack() as cleanup:
            cleanup.callback(self.unlock)
            board = Board(self.files.root, self.epoch + 1)
            cleanup.callback(board.close)
            self.measure_baseline()
            for epoch in range(self.epoch + 1, self.config.epochs + 1):
                if self.patience_spent():
                    break
                started = time.perf_counter()
                train_loss = self.train_epoch(epoch, on_step)
                seconds = time.perf_counter() - started
                self.scheduler.step()
                val_loss = validate(self.validated, self.loss, self.setup, self.config.batch_size // self.world.size,
                                    self.device, self.autocast, self.world)
                stop_if_diverged(divergence(val_loss, self.reference), f"the validation of epoch {epoch}", self.files,
                                 self.epoch)
                record = self.finish_epoch(epoch, train_loss, val_loss, seconds)
                if self.world.main:
                    board.log(record)
                on_epoch(record)
        return Result(self.best_val, self.best_epoch, self.epoch, self.files, self.patience_spent())

    def patience_spent(self) -> bool:
        """Whether `patience` epochs have passed since the best one (never with patience 0): the run stops there,
        and a resumed run that had stopped stays stopped."""
        return 0 < self.config.patience <= self.epoch - self.best_epoch

    def train_epoch(self, epoch: int, on_step: Callable[[Step], None]) -> float:
        """One pass over the training frames in the epoch's order, this process's share of each batch; the mean loss."""
        setup, config, world = self.setup, self.config, self.world
        samples = len(setup.train)
        parts = shares(epoch_order(samples, config.seed, epoch), config.batch_size, world)
        loader = DataLoader(setup.train, batch_sampler=[part.indices for part in parts])
        self.trained.train()
        loss_sum, done = 0.0, 0
        for step, (batch, part) in enumerate(zip(loader, parts)):
            interrupt.check()
            with self.autocast():
                loss = setup.batch_loss(self.trained, self.loss, to_device(batch, self.device))
            value = global_mean(loss.item(), part, world, self.device)
            self.reference = value if self.reference is None else self.reference
            stop_if_diverged(divergence(value, self.reference), f"epoch {epoch}, step {step + 1}", self.files,
                             self.epoch)
            self.optimizer.zero_grad(set_to_none=True)
            (loss * part.weight(world.size)).backward()
            self.optimizer.step()
            loss_sum += value * part.total
            done += part.total
            on_step(Step(epoch, config.epochs, (epoch - 1) * samples + done, config.epochs * samples, value))
        return loss_sum / samples

    def finish_epoch(self, epoch: int, train_loss: float, val_loss: float, seconds: float) -> dict:
        """Count the epoch done and (rank 0) write best.pt if it is the best, its metrics line, then last.pt."""
        self.epoch = epoch
        best = val_loss < self.best_val
        if best:
            self.best_val, self.best_epoch = val_loss, epoch
        samples = len(self.setup.train)
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "best_val_loss": self.best_val,
                  "lr": self.optimizer.param_groups[0]["lr"], "samples_per_s": samples / seconds, "seconds": seconds,
                  "baseline_val_loss": self.baseline_loss}
        if self.world.main:
            if best:
                save_checkpoint(self.state(val_loss), self.files.best)
            self.files.append_metrics(record)
            save_checkpoint(self.state(val_loss), self.files.last)  # last: a stop before it redoes the whole epoch
        return record
