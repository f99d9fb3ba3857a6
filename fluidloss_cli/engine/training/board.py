"""Training curves where people watch them: every finished epoch's record as TensorBoard scalars in the run
directory's `tensorboard/` folder, beside `metrics.jsonl` (which stays the record resume and the study read).

One event writer per training process, opened with `purge_step` at its first epoch: TensorBoard then drops whatever
an earlier run logged from that epoch on, past the checkpoint a resumed run continues from, or every epoch of a run
that `--overwrite` (or a restart after a stop in epoch 1) replaces. `tensorboard --logdir RUN` shows
one run; `tensorboard --logdir STUDY/cells/train` every run of a study, named by task, scene, loss and seed.
"""

from pathlib import Path
from typing import Any

from fluidloss_cli.engine.atomic import write_error

BOARD = "tensorboard"
"""The folder of a run directory that holds its TensorBoard event files."""
SCALARS = ("train_loss", "val_loss", "best_val_loss", "lr", "samples_per_s", "baseline_val_loss")
"""The epoch record's values written as scalars, each under its own name, the epoch as the step."""


class Board:
    """The TensorBoard writer of one training process, opened at the first epoch it logs."""

    def __init__(self, run: Path, first_epoch: int) -> None:
        """Log into `run/tensorboard`; `first_epoch` is the first epoch this process trains (1: a new run)."""
        self.folder, self.first_epoch, self.writer = run / BOARD, first_epoch, None

    def log(self, record: dict[str, Any]) -> None:
        """Write one finished epoch's scalars and flush them, so a watching TensorBoard sees the epoch at once."""
        from torch.utils.tensorboard import SummaryWriter  # loads tensorboard: only once an epoch has finished

        try:
            if self.writer is None:
                self.writer = SummaryWriter(str(self.folder), purge_step=self.first_epoch)
            for name in SCALARS:
                if record.get(name) is not None:
                    self.writer.add_scalar(name, record[name], record["epoch"])
            self.writer.flush()
        except OSError as exc:
            raise write_error(self.folder, exc) from None

    def close(self) -> None:
        """Close the event file (nothing to do when no epoch was logged)."""
        if self.writer is not None:
            self.writer.close()
