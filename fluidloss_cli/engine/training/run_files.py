"""The on-disk format of a training run: the files of its directory, and when a checkpoint may be resumed.

A run directory holds `config.json` (what is trained on what, written when the run starts), `metrics.jsonl` (one
line per epoch), `last.pt` (written at the end of every epoch) and `best.pt` (the lowest validation loss). A run
resumes from `last.pt` only with the task options, training options and data it was started with. A directory whose
run finished no epoch (no last.pt: stopped by Ctrl-C, a full disk or NaN data in epoch 1) holds nothing to keep: a
plain rerun, or one with --resume, starts that run afresh.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluidloss_cli.engine.atomic import refuse_existing, write_error, write_text
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.notice import warn
from fluidloss_cli.engine.results import BEST, LAST, RUN_CONFIG, TRAINING_LOG
from fluidloss_cli.engine.task_options import added_defaults


@dataclass(frozen=True)
class RunFiles:
    """The files of a run directory."""

    root: Path

    @property
    def last(self) -> Path:
        return self.root / LAST

    @property
    def best(self) -> Path:
        return self.root / BEST

    @property
    def metrics(self) -> Path:
        return self.root / TRAINING_LOG

    @property
    def config(self) -> Path:
        return self.root / RUN_CONFIG

    def existing(self) -> list[Path]:
        """The files of a run that the directory already holds."""
        return [p for p in (self.last, self.best, self.metrics, self.config) if p.exists()]

    def unfinished(self) -> bool:
        """Whether the directory holds at most the start of a run that finished no epoch: no last.pt, and no metrics
        line past epoch 1 (epoch 1 writes best.pt and its line before last.pt, and a stop between them finishes it
        not; a run with later lines had finished epochs, whose last.pt is missing: that is not started afresh)."""
        return not self.last.exists() and self.recorded_epochs() <= 1

    def recorded_epochs(self) -> int:
        """The highest epoch of a readable metrics line; 0 without any."""
        try:
            lines = self.metrics.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        epochs = [0]
        for line in lines:
            try:
                epochs.append(int(json.loads(line)["epoch"]))
            except (ValueError, TypeError, KeyError):
                continue
        return max(epochs)

    def check_new(self, overwrite: bool) -> None:
        """Raise unless a new run may start here: the directory holds no run, or one that finished no epoch, or
        `overwrite` replaces it. The advice names --resume only where there is a last.pt to continue from."""
        existing = self.existing()
        if existing and not overwrite and not self.unfinished():
            refuse_existing(self.root, f"already holds a run ({existing[0].name})",
                            "pass --resume to continue it" if self.last.exists() else "")

    def start(self) -> None:
        """Create the directory for a new run, deleting the files of a run it replaces."""
        existing = self.existing()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FluidlossError(f"cannot create the run directory {self.root}: {exc.strerror or exc}") from None
        for path in existing:
            path.unlink()

    def write_config(self, content: dict[str, Any]) -> None:
        """Write `config.json`, the new run's description, as indented JSON."""
        write_text(self.config, json.dumps(content, indent=2) + "\n")

    def keep_metrics_until(self, epoch: int) -> None:
        """Drop metrics lines of epochs after `epoch` (an epoch that ran but whose checkpoint was not written), and a
        line torn by a crash while it was appended (with a warning), rewriting the file atomically."""
        if not self.metrics.exists():
            return
        records, torn = [], 0
        for line in self.metrics.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
                done = record["epoch"] <= epoch
            except (ValueError, TypeError, KeyError):
                torn += 1
                continue
            if done:
                records.append(record)
        if torn:
            warn(f"{self.metrics}: dropped {torn} torn or unreadable line(s), left by an interrupted run")
        write_text(self.metrics, "".join(json.dumps(record) + "\n" for record in records))

    def append_metrics(self, record: dict) -> None:
        """Append one epoch's line and flush it to disk (a crash can tear at most this line, which resume drops)."""
        try:
            with self.metrics.open("a") as log:
                log.write(json.dumps(record) + "\n")
                log.flush()
                os.fsync(log.fileno())
        except OSError as exc:
            raise write_error(self.metrics, exc) from None


def resume_key(content: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for a checkpoint to be resumed, from a checkpoint or `loop.description`: task, its options,
    training options and data hashes. An option added after checkpoints were first written (`TaskOption.added`) at
    its default counts as absent: a checkpoint without it was trained with that value, and resumes as such."""
    added = added_defaults(content["task"])

    def known(options: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in options.items() if key not in added or added[key] != value}

    return {"task": content["task"], "task_options": known(content["task_options"]),
            "training": known(content["training"]),
            "datasets": {role: data["sha256"] for role, data in content["datasets"].items()}}


def check_resumable(checkpoint: dict[str, Any], path: Path, wanted: dict[str, Any]) -> None:
    """Raise unless `checkpoint` was made by a run with exactly the options and data of this one."""
    if checkpoint["task"] != wanted["task"]:
        raise FluidlossError(f"{path} is a checkpoint of task {checkpoint['task']!r}; `train {wanted['task']} "
                             f"--resume` cannot continue it")
    found = resume_key(checkpoint)
    differ = [key for part in ("task_options", "training", "datasets")
              for key in sorted(set(found[part]) | set(wanted[part]))
              if found[part].get(key) != wanted[part].get(key)]
    if differ:
        raise FluidlossError(f"{path} was trained with other options or data ({', '.join(differ)} differ); resume "
                             f"with the options of that run, or start a new one with --overwrite")
