"""The progress display of every long command: rich's live bars on a terminal, plain lines in a file or pipe.

A live bar redraws one line in place, which a log file (a study cell's log.txt, `fluidloss train ... > log 2>&1`)
receives as nothing until the end. Off a terminal the same bars are written instead as lines such as
`epoch 2/5 loss 0.0012: 40% (5356/13390 samples of 5 epochs), 3:10 elapsed, ETA 4:45`, one per task at most every
`interval_s()` seconds, and one when a task (a stage, an epoch) completes."""

import math
import os
import time

from rich.console import Console
from rich.progress import Progress, Task, TaskID

INTERVAL_ENV = "FLUIDLOSS_PROGRESS_INTERVAL_S"
"""Seconds between two progress lines of a task off a terminal; only tests shorten it."""
DEFAULT_INTERVAL_S = 20.0


def interval_s() -> float:
    """The seconds between two progress lines of a task: FLUIDLOSS_PROGRESS_INTERVAL_S, else 20."""
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if math.isfinite(value) and value >= 0 else DEFAULT_INTERVAL_S


def clock(seconds: float | None) -> str:
    """`3:10`, `1:02:03`: seconds as a clock reading."""
    seconds = max(0, int(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_line(task: Task) -> str:
    """One task's state as a line: description, percentage and counts, elapsed time and the time left."""
    unit = task.fields.get("unit", "")
    completed = f"{task.completed:g}"
    if task.total:
        percent = min(100, int(100 * task.completed / task.total))
        counts = f"{percent}% ({completed}/{task.total:g} {unit})".replace(" )", ")")
    else:
        counts = f"{completed} {unit}".strip()
    line = f"{task.description}: {counts}, {clock(task.elapsed)} elapsed"
    speed = task.speed
    if task.total and task.completed < task.total and speed and speed > 0:
        line += f", ETA {clock((task.total - task.completed) / speed)}"
    return line


class LoggedProgress(Progress):
    """rich's Progress, whose live display gives way to plain lines when its console is not a terminal."""

    def __init__(self, *columns, console: Console, interval: float | None = None) -> None:
        self.lines = not (console.is_terminal or console.is_jupyter)  # a notebook renders the live bar too
        super().__init__(*columns, console=console, disable=self.lines)
        self.interval = interval_s() if interval is None else interval
        self._printed: dict[TaskID, float] = {}
        self._finished: set[TaskID] = set()

    def update(self, task_id: TaskID, **changes) -> None:
        super().update(task_id, **changes)
        self._log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def _log(self, task_id: TaskID) -> None:
        """Off a terminal: the task's line when it completes, or when `interval` passed since its last line."""
        if not self.lines:
            return
        task = self._tasks[task_id]
        done = task.total is not None and task.completed >= task.total
        now = time.monotonic()
        if done:
            if task_id in self._finished:
                return
            self._finished.add(task_id)
        else:
            self._finished.discard(task_id)  # started over (the next epoch): its end is worth a line again
            if now - self._printed.setdefault(task_id, now) < self.interval:
                return
        self._printed[task_id] = now
        self.console.print(progress_line(task), highlight=False, markup=False, soft_wrap=True)
