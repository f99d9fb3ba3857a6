"""`fluidloss train sol|sr|ae`: train a model with any loss from the registry, with checkpoints and metrics per epoch."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fluidloss_cli.commands.common import (
    COUNT,
    POSITIVE,
    SEED,
    ConfigOption,
    DeviceOption,
    check_inputs,
    check_ranges,
    console,
    progress_bar,
)
from fluidloss_cli.commands.examples import examples
from fluidloss_cli.engine.defaults import ACTIVATIONS, LR_SCHEDULES, VAL_SPLIT, names
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.loss_names import parse_spec
from fluidloss_cli.engine.ranges import TRAINING_RANGES
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER, check_solver

if TYPE_CHECKING:
    import torch

    from fluidloss_cli.engine.training import Step, TrainConfig
    from fluidloss_cli.engine.training.tasks.base import TaskSetup

app = typer.Typer(help="Train a model on fluid data with any loss: Solver-in-the-Loop correction (sol), super-resolution (sr) or autoencoder (ae).",
                  no_args_is_help=True)

OutOption = typer.Option(..., "--out", help="Run directory: last.pt, best.pt, metrics.jsonl, config.json.",
                         file_okay=False)
LossOption = typer.Option("mse", "--loss", help='Loss name or weighted sum from the registry, e.g. "mse+0.1*lsim".')
EpochsOption = typer.Option(10, "--epochs", help="Epochs to train (the learning rate anneals over them).")
BatchOption = typer.Option(16, "--batch-size", help="Frames per mini-batch (over all --nproc processes together).")
LrOption = typer.Option(1e-3, "--lr", help="Adam learning rate (cosine-annealed to 0 over the epochs; see --lr-schedule).")
ScheduleOption = typer.Option(LR_SCHEDULES[0], "--lr-schedule", help=f"Learning rate over the epochs: {names(LR_SCHEDULES)} (cosine: annealed to 0; constant: as Um et al.).")
SeedOption = typer.Option(0, "--seed", help="Seed of the weights, the shuffling and the validation split.")
SplitOption = typer.Option(VAL_SPLIT, "--val-split", help="Fraction of the frames held out for validation (without a separate validation file).")
AmpOption = typer.Option("off", "--amp", help="Mixed precision: off or bf16 (the network in bf16 autocast, on CUDA or the CPU; fast on CPUs with AVX512-BF16).")
CompileOption = typer.Option(False, "--compile", help="torch.compile the model (CUDA only).")
ResumeOption = typer.Option(False, "--resume", help="Continue the interrupted run in --out from its last.pt.")
OverwriteOption = typer.Option(False, "--overwrite", help="Replace a run that --out already holds.")
WidthOption = typer.Option(32, "--width", help="Channels of the network's hidden layers.")
UNROLLS = (1, 2, 4, 8, 16)
"""The unroll lengths `train sol` takes (the engine's, spelt out here to be checked before it loads; a test compares)."""

NprocOption = typer.Option(1, "--nproc", help="Processes training data parallel (DistributedDataParallel, started by "
                           "torch.distributed.run): gloo on the CPU, one GPU each on CUDA; same results as one.")


NETWORK_SIZES = {name: TRAINING_RANGES[name] for name in ("width", "blocks", "latent", "kernel_size")}
"""The network-size options of the tasks and their ranges."""
VALIDATION_FILES = {"data": "val", "coarse": "val_coarse", "fine": "val_fine"}
"""Training file -> the validation file of the same role."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_options(task_options: dict[str, Any], out: Path, nproc: int, training: dict[str, Any]) -> None:
    """Refuse, before any work, option values that cannot train (the loss's names included), validation data that is
    the training data, and a run directory that cannot be created."""
    from fluidloss_cli.engine.outputs import check_output_dir
    from fluidloss_cli.engine.paths import same_file

    parse_spec(training["loss"])
    for name, value, allowed in (("--lr-schedule", training["lr_schedule"], LR_SCHEDULES),
                                 ("--activation", task_options.get("activation"), (None, *ACTIVATIONS))):
        if value not in allowed:
            raise FluidlossError(f"{name} {value!r}: expected one of {names(a for a in allowed if a)}")
    check_ranges(*((flag(name), task_options[name], wanted) for name, wanted in NETWORK_SIZES.items()
                   if name in task_options),
                 ("--epochs", training["epochs"], COUNT), ("--batch-size", training["batch_size"], COUNT),
                 ("--lr", training["lr"], POSITIVE), ("--seed", training["seed"], SEED), ("--nproc", nproc, COUNT))
    validation = [task_options[val] for val in VALIDATION_FILES.values() if val in task_options]
    for train, val in VALIDATION_FILES.items():
        if None in validation:
            break  # no validation files, or an incomplete pair: the task says what is missing
        if task_options.get(train) is not None and task_options.get(val) is not None \
                and same_file(task_options[train], task_options[val]):
            raise FluidlossError(f"{flag(val)} is the training file {task_options[train]}: a validation loss on the "
                                 f"frames it trains on says nothing about other data; give another file, or leave "
                                 f"{flag(val)} out to hold out --val-split of the frames")
    check_output_dir(out)


def run(task: str, task_options: dict[str, Any], out: Path, device: str, resume: bool, overwrite: bool, *,
        nproc: int = 1, **training: Any) -> None:
    """Set the task up, train with a progress bar, print a line per epoch and the final result; with `nproc` > 1,
    run this same command in that many processes through torch's launcher instead (rank 0 prints)."""
    check_options(task_options, out, nproc, training)
    check_inputs(value for value in task_options.values() if isinstance(value, Path))
    from fluidloss_cli.engine.device import resolve_device
    from fluidloss_cli.engine.training import TASKS, TrainConfig
    from fluidloss_cli.engine.training.distributed import World, launched, run_in_processes
    from fluidloss_cli.engine.training.run_files import RunFiles

    setup = TASKS[task](**task_options, seed=training["seed"])
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

        def on_step(step: "Step") -> None:
            bar.update(progress, completed=step.samples_done, total=step.samples_total,
                       description=f"epoch {step.epoch}/{step.epochs} loss {step.loss:.4g}")

        def on_epoch(record: dict) -> None:
            bar.console.print(epoch_line(record, setup.baseline), highlight=False)

        result = trainer.fit(on_step, on_epoch)
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
def sr(
    coarse: Path = typer.Option(..., "--coarse", help="Coarse dataset (the network's input).", dir_okay=False),
    fine: Path = typer.Option(..., "--fine", help="Fine dataset of the same simulations, 2x or 4x finer (the target).", dir_okay=False),
    val_coarse: Path = typer.Option(None, "--val-coarse", help="Coarse validation dataset (with --val-fine).", dir_okay=False),
    val_fine: Path = typer.Option(None, "--val-fine", help="Fine validation dataset (with --val-coarse).", dir_okay=False),
    width: int = WidthOption,
    blocks: int = typer.Option(4, "--blocks", help="Residual blocks."),
    out: Path = OutOption, loss: str = LossOption, epochs: int = EpochsOption, batch_size: int = BatchOption,
    lr: float = LrOption, seed: int = SeedOption, val_split: float = SplitOption, device: str = DeviceOption,
    amp: str = AmpOption, lr_schedule: str = ScheduleOption, compile: bool = CompileOption, resume: bool = ResumeOption,
    overwrite: bool = OverwriteOption, nproc: int = NprocOption, config: Path = ConfigOption,
) -> None:
    """Super-resolution: predict fine frames (staggered velocity, and density where present) from coarse ones."""
    run("sr", dict(coarse=coarse, fine=fine, val_coarse=val_coarse, val_fine=val_fine, val_split=val_split,
                   width=width, blocks=blocks),
        out, device, resume, overwrite, nproc=nproc, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, amp=amp, compile=compile, lr_schedule=lr_schedule)


@app.command("ae", epilog=examples("train ae"))
def ae(
    data: Path = typer.Option(..., "--data", help="Dataset of frames to compress.", dir_okay=False),
    val: Path = typer.Option(None, "--val", help="Validation dataset (instead of --val-split).", dir_okay=False),
    latent: int = typer.Option(8, "--latent", help="Latent channels at 1/4 resolution per axis: sets the compression."),
    width: int = WidthOption,
    out: Path = OutOption, loss: str = LossOption, epochs: int = EpochsOption, batch_size: int = BatchOption,
    lr: float = LrOption, seed: int = SeedOption, val_split: float = SplitOption, device: str = DeviceOption,
    amp: str = AmpOption, lr_schedule: str = ScheduleOption, compile: bool = CompileOption, resume: bool = ResumeOption,
    overwrite: bool = OverwriteOption, nproc: int = NprocOption, config: Path = ConfigOption,
) -> None:
    """Autoencoder: compress frames to a latent grid and reconstruct them; prints the compression ratio."""
    run("ae", dict(data=data, val=val, val_split=val_split, latent=latent, width=width),
        out, device, resume, overwrite, nproc=nproc, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, amp=amp, compile=compile, lr_schedule=lr_schedule)


@app.command("sol", epilog=examples("train sol"))
def sol(
    data: Path = typer.Option(..., "--data", help="Coarse reference: a fine dataset made coarse by `fluidloss downsample`.", dir_okay=False),
    val: Path = typer.Option(None, "--val", help="Coarse validation reference (instead of --val-split).", dir_okay=False),
    unroll: int = typer.Option(4, "--unroll", help="Solver steps per sample, the loss summed over them: 1, 2, 4, 8 or 16."),
    width: int = WidthOption,
    blocks: int = typer.Option(2, "--blocks", help="Residual blocks of the correction network."),
    kernel_size: int = typer.Option(5, "--kernel-size", help="Square convolution size of the correction network."),
    out: Path = OutOption, loss: str = LossOption, epochs: int = EpochsOption, batch_size: int = BatchOption,
    lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate (cosine-annealed to 0; see --lr-schedule); corrections are small, so lower than for sr/ae."),
    seed: int = SeedOption, val_split: float = SplitOption, device: str = DeviceOption,
    amp: str = AmpOption, lr_schedule: str = ScheduleOption, compile: bool = CompileOption, resume: bool = ResumeOption,
    overwrite: bool = OverwriteOption, nproc: int = NprocOption, config: Path = ConfigOption,
    activation: str = typer.Option(ACTIVATIONS[0], "--activation", help=f"Nonlinearity of the correction network: {names(ACTIVATIONS)} (leaky_relu: the PBDL book's)."),
    normalize: bool = typer.Option(False, "--normalize", help="Scale the network's inputs and output, and the fields the loss compares, by the spread (standard deviation) of the training data's fields and Reynolds numbers, as the PBDL book's code does; recorded in the checkpoint. Validation losses are then in those units."),
    solver: str = typer.Option(DEFAULT_SOLVER, "--solver", help="Coarse solver trained through: native (plain torch, "
                               "faster) or phiflow; recorded in the checkpoint, whose rollouts then use it."),
) -> None:
    """Solver-in-the-Loop: learn a velocity correction that makes the coarse simulation follow the reference."""
    if unroll not in UNROLLS:  # the cheap checks before the inputs are opened and torch is loaded
        raise FluidlossError(f"--unroll must be one of {', '.join(map(str, UNROLLS))}, got {unroll}")
    check_solver(solver)
    run("sol", dict(data=data, val=val, val_split=val_split, unroll=unroll, width=width, blocks=blocks,
                    kernel_size=kernel_size, solver=solver, activation=activation, normalize=normalize),
        out, device, resume, overwrite, nproc=nproc, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, amp=amp, compile=compile, lr_schedule=lr_schedule)
