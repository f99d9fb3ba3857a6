"""Benchmark: samples/s of fluidloss's training loop against a bare torch loop with the same model, loss and data,
measured in the same run and interleaved (Trainer, bare, Trainer, bare ...); goal: the Trainer within 10%. For
SOL, also where a training step's time goes: solver, network and loss forward passes, and the backward pass.

Run from the repository root:  python benchmarks/bench_train.py [--tasks sr sol] [--repeats 2] [--epochs 1]
It makes its own small Karman data (128x64 and its 64x32 reference, 2 simulations x 60 frames) in a temp folder.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader

from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.training import TASKS, Trainer, TrainConfig
from fluidloss_cli.engine.training.tasks.base import TaskSetup

CPU = torch.device("cpu")


def make_data(folder: Path) -> tuple[Path, Path]:
    """A fine Karman set and its coarse reference, made by the fluidloss command line."""
    fine, coarse = folder / "k.h5", folder / "k32.h5"
    for args in (["generate", "karman", "--res", "128x64", "--re", "1e5", "4e5", "--frames", "60", "--workers", "2",
                  "--out", str(fine)], ["downsample", str(fine), "--res", "64x32", "--out", str(coarse)]):
        subprocess.run([sys.executable, "-m", "fluidloss_cli", *args], check=True, capture_output=True)
    return fine, coarse


def trainer_rate(setup: TaskSetup, config: TrainConfig, out: Path) -> float:
    """Training samples/s of the Trainer (validation and checkpoints excluded, as its metrics report)."""
    records: list[dict] = []
    Trainer(setup, config, out, CPU, overwrite=True).fit(on_epoch=records.append)
    return sum(r["samples_per_s"] * r["seconds"] for r in records) / sum(r["seconds"] for r in records)


def bare_rate(setup: TaskSetup, config: TrainConfig) -> float:
    """Samples/s of the plainest loop: shuffled batches, loss, backward, Adam step."""
    torch.manual_seed(config.seed)
    model = model_class(setup.model)(**setup.model_config)
    loss = build_loss(config.loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loader = DataLoader(setup.train, batch_size=config.batch_size, shuffle=True)
    started = time.perf_counter()
    for _ in range(config.epochs):
        for batch in loader:
            value = setup.batch_loss(model, loss, batch)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
    return config.epochs * len(setup.train) / (time.perf_counter() - started)


def sol_split(setup: TaskSetup, config: TrainConfig, steps: int = 4) -> dict[str, float]:
    """Milliseconds per SOL training step in the solver, network and loss (forward) and in backward + update."""
    model = model_class(setup.model)(**setup.model_config)
    loss = build_loss(config.loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = iter(DataLoader(setup.train, batch_size=config.batch_size, shuffle=True))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for _ in range(steps):
            value = setup.batch_loss(model, loss, next(batches))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
        total = (time.perf_counter() - started) * 1e3 / steps
    parts = {e.key: e.cpu_time_total / 1e3 / steps for e in prof.key_averages() if e.key.startswith("sol.")}
    parts["backward + update"] = total - sum(parts.values())
    return {"total": total, **parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["sr", "sol"], choices=["sr", "sol"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--loss", default="mse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fine, coarse = make_data(Path(tmp))
        setups = {"sr": (TASKS["sr"](coarse=coarse, fine=fine), 16),
                  "sol": (TASKS["sol"](data=coarse, unroll=4), 8)}
        for task in args.tasks:
            setup, batch_size = setups[task]
            config = TrainConfig(loss=args.loss, epochs=args.epochs, batch_size=batch_size, lr=1e-4)
            rates: dict[str, list[float]] = {"trainer": [], "bare": []}
            for _ in range(args.repeats):
                rates["trainer"].append(trainer_rate(setup, config, Path(tmp) / f"run_{task}"))
                rates["bare"].append(bare_rate(setup, config))
            mine, bare = (statistics.median(rates[k]) for k in ("trainer", "bare"))
            print(f"{task}: fluidloss train {mine:.1f} samples/s, bare loop {bare:.1f} samples/s, "
                  f"ratio {mine / bare:.3f} (goal >= 0.90; runs {rates})")
            if task == "sol":
                split = sol_split(setup, config)
                print(f"sol step ({setup.options['unroll']} unrolled, batch {batch_size}): {split['total']:.0f} ms = "
                      + ", ".join(f"{k.removeprefix('sol.')} {v:.0f} ms ({100 * v / split['total']:.0f}%)"
                                  for k, v in split.items() if k != "total"))


if __name__ == "__main__":
    main()
