"""The training loop shared by every task: epochs of shuffled mini-batches, validation, checkpoints, metrics.

A run directory holds `config.json`, `metrics.jsonl` (one line per epoch), `last.pt` (written at the end of every
epoch) and `best.pt` (the lowest validation loss). An interrupted epoch is lost and nothing else: `resume=True`
restores model, optimizer, scheduler and random states from `last.pt`, and shuffling is seeded per epoch, so the
resumed run continues exactly as the uninterrupted one would have.
"""

import json
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import MODELS
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.training.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from fluidloss_cli.engine.training.tasks.base import TaskSetup

EXPLOSION_FACTOR = 1e3
"""Training stops when a batch's loss exceeds this multiple of the run's first batch loss (or is NaN/inf)."""

AMP_MODES = ("off", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """The task-independent options of a run; stored in every checkpoint, and a run resumes only with the same."""

    loss: str = "mse"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    amp: str = "off"
    compile: bool = False

    def check(self, device: torch.device) -> None:
        """Raise a one-line error for values that cannot train."""
        if self.epochs < 1 or self.batch_size < 1:
            raise FluidlossError(f"--epochs and --batch-size must be at least 1, got {self.epochs} and {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise FluidlossError(f"--lr must be positive and finite, got {self.lr}")
        if self.amp not in AMP_MODES:
            raise FluidlossError(f"--amp {self.amp!r}: expected one of {', '.join(AMP_MODES)}")
        for flag, wanted in ((f"--amp {self.amp}", self.amp != "off"), ("--compile", self.compile)):
            if wanted and device.type != "cuda":
                raise FluidlossError(f"{flag} is CUDA-only; the run is on {device} (drop the flag or use --device cuda)")


class Step(NamedTuple):
    """Progress after one optimizer step, for a progress bar."""

    epoch: int
    epochs: int
    samples_done: int
    samples_total: int
    loss: float


@dataclass(frozen=True)
class RunFiles:
    """The files of a run directory."""

    root: Path

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    def start(self, overwrite: bool) -> None:
        """Create the directory for a new run; an existing run is replaced only with `overwrite`."""
        existing = [p for p in (self.last, self.best, self.metrics, self.config) if p.exists()]
        if existing and not overwrite:
            raise FluidlossError(f"{self.root} already holds a run ({existing[0].name}): add --resume to continue it "
                                 "or --overwrite to start again")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FluidlossError(f"cannot create the run directory {self.root}: {exc.strerror or exc}") from None
        for path in existing:
            path.unlink()

    def keep_metrics_until(self, epoch: int) -> None:
        """Drop metrics lines of epochs after `epoch` (an epoch that ran but whose checkpoint was not written)."""
        if self.metrics.exists():
            lines = [line for line in self.metrics.read_text().splitlines() if json.loads(line)["epoch"] <= epoch]
            self.metrics.write_text("".join(line + "\n" for line in lines))


@dataclass(frozen=True)
class Result:
    """How a run ended: the best validation loss, its epoch, and where the checkpoints are."""

    best_val_loss: float
    best_epoch: int
    epochs: int
    files: RunFiles


@contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Use deterministic algorithms on the CPU for the duration of a run, then restore the previous setting."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(before or device.type == "cpu")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested dict) batch to `device`; other entries (names, indices) stay as they are."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def batch_length(batch: Any) -> int:
    """The number of samples in a (nested dict) batch: the length of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    return batch_length(next(value for value in batch.values() if isinstance(value, torch.Tensor | dict)))


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and python's random module."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def divergence(value: float, reference: float) -> str | None:
    """Why a batch loss means training has diverged, or None when it is fine."""
    if not math.isfinite(value):
        return f"the loss is {value}"
    if value > EXPLOSION_FACTOR * reference:
        return f"the loss exploded to {value:.4g}, over {EXPLOSION_FACTOR:g} x the first batch's {reference:.4g}"
    return None


def stop_if_diverged(reason: str | None, where: str, files: RunFiles, done_epochs: int) -> None:
    """Stop the run with one line when `reason` says it diverged; the last checkpoint written stays as it is."""
    if reason:
        kept = f"the last good checkpoint {files.last} (epoch {done_epochs}) is kept" if done_epochs else \
            "no checkpoint was written"
        raise FluidlossError(f"training stopped at {where}: {reason}; {kept}. Lower --lr or check the data")


def identity(setup: TaskSetup, config: TrainConfig) -> dict[str, Any]:
    """What must be equal for a checkpoint to be resumed: task, its options, training options and data hashes."""
    return {"task": setup.task, "task_options": setup.options, "training": asdict(config),
            "datasets": {role: data["sha256"] for role, data in setup.datasets.items()}}


def check_resumable(checkpoint: dict[str, Any], path: Path, wanted: dict[str, Any]) -> None:
    """Raise unless `checkpoint` was made by a run with exactly the options and data of this one."""
    if checkpoint["task"] != wanted["task"]:
        raise FluidlossError(f"{path} is a checkpoint of task {checkpoint['task']!r}; `train {wanted['task']} "
                             f"--resume` cannot continue it")
    found = {"task": checkpoint["task"], "task_options": checkpoint["task_options"], "training": checkpoint["training"],
             "datasets": {role: data["sha256"] for role, data in checkpoint["datasets"].items()}}
    differ = [key for part in ("task_options", "training", "datasets")
              for key in sorted(set(found[part]) | set(wanted[part]))
              if found[part].get(key) != wanted[part].get(key)]
    if differ:
        raise FluidlossError(f"{path} was trained with other options or data ({', '.join(differ)} differ); resume "
                             f"with the options of that run, or start a new one with --overwrite")


@torch.no_grad()
def validate(model: nn.Module, loss: nn.Module, setup: TaskSetup, loader: DataLoader, device: torch.device,
             autocast: Callable[[], Any]) -> float:
    """Mean loss over the validation set (weighted by batch size)."""
    model.eval()
    total = 0.0
    for batch in loader:
        with autocast():
            value = setup.batch_loss(model, loss, to_device(batch, device))
        total += value.item() * batch_length(batch)
    return total / len(loader.dataset)


class Trainer:
    """One run: the constructor checks the options, builds model, loss and optimizer and restores a resumed run, so
    bad input fails before any work; `fit` trains the remaining epochs."""

    def __init__(self, setup: TaskSetup, config: TrainConfig, out: Path, device: torch.device, resume: bool = False,
                 overwrite: bool = False):
        """Check, build and (with `resume`) restore from `out/last.pt`; without it, start a new run in `out`."""
        config.check(device)
        if config.batch_size > len(setup.train):
            raise FluidlossError(f"--batch-size {config.batch_size} is larger than the {len(setup.train)} training "
                                 "samples")
        self.setup, self.config, self.device, self.files = setup, config, device, RunFiles(Path(out))
        self.loss = build_loss(config.loss, device)
        if resume and not self.files.last.exists():
            raise FluidlossError(f"--resume: {self.files.root} holds no run to continue (no last.pt)")
        checkpoint = load_checkpoint(self.files.last) if resume else None
        if checkpoint:
            check_resumable(checkpoint, self.files.last, identity(setup, config))
        seed_everything(config.seed)
        self.model = MODELS[setup.model](**setup.model_config).to(device)
        self.forward = torch.compile(self.model) if config.compile else self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.epochs)
        self.epoch, self.best_val, self.best_epoch, self.reference = 0, math.inf, 0, None
        if checkpoint:
            self.model.load_state_dict(checkpoint["model"]["state"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.scheduler.load_state_dict(checkpoint["scheduler"])
            set_rng_states(checkpoint["rng"])
            self.epoch, self.reference = checkpoint["epoch"], checkpoint["reference_loss"]
            self.best_val, self.best_epoch = checkpoint["best_val_loss"], checkpoint["best_epoch"]
            self.files.keep_metrics_until(self.epoch)
        else:
            self.files.start(overwrite)
            self.files.config.write_text(json.dumps({
                **identity(setup, config), "model": {"name": setup.model, "config": setup.model_config},
                "task_info": setup.info, "datasets": setup.datasets, "provenance": provenance()}, indent=2) + "\n")

    def autocast(self) -> Any:
        """Mixed precision when asked for (CUDA only, checked by the config)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.amp == "bf16")

    def state(self, val_loss: float) -> dict[str, Any]:
        """Everything a checkpoint holds: what was trained on what, and how to continue."""
        setup, config = self.setup, self.config
        return {
            "task": setup.task, "task_options": setup.options, "task_info": setup.info,
            "model": {"name": setup.model, "config": setup.model_config, "state": self.model.state_dict()},
            "parts": setup.export(self.model), "training": asdict(config), "loss": config.loss,
            "datasets": setup.datasets, "provenance": provenance(), "epoch": self.epoch, "val_loss": val_loss,
            "best_val_loss": self.best_val, "best_epoch": self.best_epoch, "reference_loss": self.reference,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "rng": rng_states(),
        }

    def fit(self, on_step: Callable[[Step], None] = lambda step: None,
            on_epoch: Callable[[dict], None] = lambda record: None) -> Result:
        """Train the epochs left: per epoch, shuffled mini-batches, validation, checkpoints, a metrics line."""
        setup, config, files = self.setup, self.config, self.files
        shuffle = torch.Generator()
        loader = DataLoader(setup.train, batch_size=config.batch_size, shuffle=True, generator=shuffle)
        val_loader = DataLoader(setup.val, batch_size=config.batch_size)
        samples = len(setup.train)
        with deterministic(self.device):
            for epoch in range(self.epoch + 1, config.epochs + 1):
                shuffle.manual_seed(config.seed * 1_000_003 + epoch)  # an epoch's order depends on seed and epoch only
                self.model.train()
                started, loss_sum, epoch_samples = time.perf_counter(), 0.0, 0
                for step, batch in enumerate(loader):
                    with self.autocast():
                        loss = setup.batch_loss(self.forward, self.loss, to_device(batch, self.device))
                    value = loss.item()
                    self.reference = value if self.reference is None else self.reference
                    stop_if_diverged(divergence(value, self.reference), f"epoch {epoch}, step {step + 1}", files,
                                     self.epoch)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    batch_samples = batch_length(batch)
                    loss_sum += value * batch_samples
                    epoch_samples += batch_samples
                    on_step(Step(epoch, config.epochs, (epoch - 1) * samples + epoch_samples, config.epochs * samples,
                                 value))
                seconds = time.perf_counter() - started
                self.scheduler.step()
                val_loss = validate(self.forward, self.loss, setup, val_loader, self.device, self.autocast)
                stop_if_diverged(divergence(val_loss, self.reference), f"the validation of epoch {epoch}", files,
                                 self.epoch)
                self.epoch = epoch
                if val_loss < self.best_val:
                    self.best_val, self.best_epoch = val_loss, epoch
                    save_checkpoint(self.state(val_loss), files.best)  # before last.pt: a stop between redoes it
                save_checkpoint(self.state(val_loss), files.last)
                record = {"epoch": epoch, "train_loss": loss_sum / samples, "val_loss": val_loss,
                          "best_val_loss": self.best_val, "lr": self.optimizer.param_groups[0]["lr"],
                          "samples_per_s": samples / seconds, "seconds": seconds}
                with files.metrics.open("a") as log:
                    log.write(json.dumps(record) + "\n")
                on_epoch(record)
        return Result(self.best_val, self.best_epoch, self.epoch, files)
