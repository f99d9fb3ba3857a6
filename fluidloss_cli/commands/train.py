"""`fluidloss train sol|sr|ae`: train a model with any loss from the registry, with checkpoints and metrics per epoch."""

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fluidloss_cli.commands.command_list import WorkflowGroup
from fluidloss_cli.commands.common import (
    COUNT,
    ConfigOption,
    DeviceOption,
    check_inputs,
    check_ranges,
    completer,
    console,
    progress_bar,
)
from fluidloss_cli.commands.examples import examples
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.task_options import TRAINING, VALIDATION_FILES, TaskOption, all_options, task_options

if TYPE_CHECKING:
    import torch

    from fluidloss_cli.engine.training import Step, TrainConfig
    from fluidloss_cli.engine.training.tasks.base import TaskSetup

app = typer.Typer(cls=WorkflowGroup, help="Train a model on fluid data with any loss: Solver-in-the-Loop correction (sol), super-resolution (sr) or autoencoder (ae).",
                  no_args_is_help=True)

OutOption = typer.Option(..., "--out", help="Run directory: last.pt, best.pt, metrics.jsonl, config.json.",
                         file_okay=False)
ResumeOption = typer.Option(False, "--resume", help="Continue the interrupted run in --out from its last.pt.")
OverwriteOption = typer.Option(False, "--overwrite", help="Replace a run that --out already holds.")
NprocOption = typer.Option(1, "--nproc", help="Processes training data parallel (DistributedDataParallel, started by "
                           "torch.distributed.run): gloo on the CPU, one GPU each on CUDA; same results as one.")


def typer_parameter(option: TaskOption) -> inspect.Parameter:
    """A declared option as the parameter of a Typer command: its flag, default and help."""
    extra = {"dir_okay": False} if option.type is Path else {}
    if option.completions():
        extra["autocompletion"] = completer(option.completions)
    default = typer.Option(option.default, option.flag, help=option.help, **extra)
    return inspect.Parameter(option.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=option.type)


class DeclaredCommand:
    """A `train TASK` command whose parameters are every option task_options declares for `task` (those registered
    after import included: Typer reads the signature each time it builds the command) before the body's own; the
    body receives the declared options' values in `**values`."""

    def __init__(self, task: str, body: Callable[..., None]):
        self.task, self.body = task, body
        functools.update_wrapper(self, body)
        self.own = [p for p in inspect.signature(body).parameters.values() if p.kind is not p.VAR_KEYWORD]

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.Signature([*map(typer_parameter, all_options(self.task)), *self.own])

    def __call__(self, **values: Any) -> None:
        self.body(**values)


def with_declared_options(task: str) -> Callable[[Callable[..., None]], DeclaredCommand]:
    """Decorate a `train TASK` command body with the declared options of `task` (DeclaredCommand)."""
    return lambda body: DeclaredCommand(task, body)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_options(task: str, task_values: dict[str, Any], out: Path, nproc: int, training: dict[str, Any]) -> None:
    """Refuse, before any work, option values that cannot train (each by its declaration: ranges, choices, the loss's
    names), validation data that is the training data, and a run directory that cannot be created."""
    from fluidloss_cli.engine.outputs import check_output_dir
    from fluidloss_cli.engine.paths import same_file

    values = {**task_values, **training}
    for option in all_options(task):
        option.validate(values[option.name])
    check_ranges(("--nproc", nproc, COUNT))
    validation = [task_values[val] for val in VALIDATION_FILES.values() if val in task_values]
    for train, val in VALIDATION_FILES.items():
        if None in validation:
            break  # no validation files, or an incomplete pair: the task says what is missing
        if task_values.get(train) is not None and task_values.get(val) is not None \
                and same_file(task_values[train], task_values[val]):
            raise FluidlossError(f"{flag(val)} is the training file {task_values[train]}: a validation loss on the "
                                 f"frames it trains on says nothing about other data; give another file, or leave "
                                 f"{flag(val)} out to hold out --val-split of the frames")
    check_output_dir(out)


def run(task: str, values: dict[str, Any], out: Path, device: str, resume: bool, overwrite: bool, nproc: int) -> None:
    """Set the task up from the declared options' `values`, train with a progress bar, print a line per epoch and the
    final result; with `nproc` > 1, run this same command in that many processes through torch's launcher instead
    (rank 0 prints)."""
    task_values = {o.name: values[o.name] for o in task_options(task)}
    training = {o.name: values[o.name] for o in TRAINING}
    check_options(task, task_values, out, nproc, training)
    check_inputs(value for value in task_values.values() if isinstance(value, Path))
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.training import TASKS, TrainConfig
    from fluidloss_cli.engine.training.distributed import World, launched, run_in_processes
    from fluidloss_cli.engine.training.run_files import RunFiles

    setup = TASKS[task](**task_values, seed=training["seed"])
    if nproc != 1 and not launched():
        if not resume:  # refuse here, not in the processes: torch's launcher may stop rank 0 before it prints
            RunFiles(out).check_new(overwrite)
        raise typer.Exit(run_in_processes(nproc, training["batch_size"], resolve_device(device)))
    if not World.from_env().main:
        console.quiet = True  # rank 0 alone prints, errors included
    try:
        train(setup, TrainConfig(**training), out, resolve_device(device), resume, overwrite)
    except KeyboardInterrupt as exc:
        if not RunFiles(out).last.exists():  # the app prints this instead of "rerun with --resume"
            exc.advice = FIRST_EPOCH_ADVICE
        raise


FIRST_EPOCH_ADVICE = "no epoch had finished, so nothing was kept; rerun the same command to start the run afresh"
"""What to do after an interrupt before the first checkpoint (last.pt): a plain rerun starts the run again."""


def train(setup: "TaskSetup", config: "TrainConfig", out: Path, device: "torch.device", resume: bool,
          overwrite: bool) -> None:
    """Build the trainer (`resume`: from out/last.pt where it exists), train with a progress bar, print a line per
    epoch and the final result."""
    from fluidloss_cli.engine.training import Trainer

    trainer = Trainer(setup, config, out, device, resume=resume, overwrite=overwrite)
    console.print(setup.summary + (f"; resuming after epoch {trainer.epoch}" if trainer.resumed else ""),
                  highlight=False)
    baseline = trainer.measure_baseline()
    if baseline is not None:
        console.print(f"before training: val {baseline:.5g}, the {setup.baseline}'s (the untrained model's, its "
                      "output starting at zero): the loss to beat", highlight=False)
    with progress_bar(rate=False) as bar:  # one throughput figure: the epoch lines'
        progress = bar.add_task("training", total=None, unit="samples")

        def on_step(step: "Step") -> None:  # the count and the time left are the whole run's, not the epoch's
            bar.update(progress, completed=step.samples_done, total=step.samples_total,
                       description=f"epoch {step.epoch}/{step.epochs} loss {step.loss:.4g}",
                       unit=f"samples of {step.epochs} epoch{'s' * (step.epochs != 1)}")

        def on_epoch(record: dict) -> None:
            bar.console.print(epoch_line(record, setup.baseline), highlight=False)

        result = trainer.fit(on_step, on_epoch)
    if result.stopped_early:
        console.print(f"stopped after epoch {result.epochs}: no better validation loss for {config.patience} epochs "
                      "(--patience)", highlight=False)
    console.print(f"best val loss {result.best_val_loss:.6g} (epoch {result.best_epoch} of {result.epochs})"
                  + (f", {versus(result.best_val_loss, baseline, setup.baseline)}" if baseline is not None else "")
                  + f": [bold]{result.files.best}[/]; last: {result.files.last}", highlight=False)


def versus(loss: float, baseline: float, name: str | None) -> str:
    """How a validation loss compares with the baseline's, e.g. `uncorrected solver 0.0024: 21% lower`."""
    if not loss == loss or baseline <= 0:  # NaN, or a baseline with nothing to beat
        return f"{name} {baseline:.5g}"
    change = (loss - baseline) / baseline
    percent = abs(change) * 100
    amount = f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"
    verdict = "the same" if percent < 0.05 else f"{amount} {'lower' if change < 0 else 'HIGHER'}"
    return f"{name} {baseline:.5g}: {verdict}"


def epoch_line(record: dict, name: str | None) -> str:
    """One epoch's losses, beside the baseline's validation loss where the task has one, and its throughput."""
    baseline = record.get("baseline_val_loss")
    against = f" ({versus(record['val_loss'], baseline, name)})" if baseline is not None else ""
    return (f"epoch {record['epoch']}: train {record['train_loss']:.5g}, val {record['val_loss']:.5g}{against}, "
            f"{record['samples_per_s']:.1f} training samples/s")


@app.command("sr", epilog=examples("train sr"))
@with_declared_options("sr")
def sr(out: Path = OutOption, device: str = DeviceOption, resume: bool = ResumeOption,
       overwrite: bool = OverwriteOption, nproc: int = NprocOption, config: Path = ConfigOption, **values: Any) -> None:
    """Super-resolution: predict fine frames (staggered velocity, and density where present) from coarse ones."""
    run("sr", values, out, device, resume, overwrite, nproc)


@app.command("ae", epilog=examples("train ae"))
@with_declared_options("ae")
def ae(out: Path = OutOption, device: str = DeviceOption, resume: bool = ResumeOption,
       overwrite: bool = OverwriteOption, nproc: int = NprocOption, config: Path = ConfigOption, **values: Any) -> None:
    """Autoencoder: compress frames to a latent grid and reconstruct them; prints the compression ratio."""
    run("ae", values, out, device, resume, overwrite, nproc)


@app.command("sol", epilog=examples("train sol"))
@with_declared_options("sol")
def sol(out: Path = OutOption, device: str = DeviceOption, resume: bool = ResumeOption,
        overwrite: bool = OverwriteOption, nproc: int = NprocOption, config: Path = ConfigOption, **values: Any) -> None:
    """Solver-in-the-Loop: learn a velocity correction that makes the coarse simulation follow the reference."""
    run("sol", values, out, device, resume, overwrite, nproc)
