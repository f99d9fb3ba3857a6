"""Benchmark: `train sol` samples/s through the native solver against the PhiFlow solver, measured in the same run and
interleaved (phiflow, native, phiflow, native ...), for several batch sizes and unroll lengths on one CPU thread; the
projected time of the full study's 100 epochs (8 simulations x 1500 frames, 90% of the windows for training); and
the corrected rollout's milliseconds per step with each solver.

Run from the repository root:  python benchmarks/bench_sol_solvers.py [--batches 4 16 32 64] [--unrolls 4 16]
[--device cpu|cuda] (on CUDA every step is synchronised before it is timed; the native solver there runs CG).
A column gives the correction network's own step (forward per unrolled step, backward, update; no solver): the
rate no solver can exceed.
It makes its own small Karman data (128x64 and its 64x32 reference, 2 simulations x 40 frames) in a temp folder.
A training step is the bare loop's (unrolled loss, backward, Adam step) on the task's own UnrolledLoss.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from fluidloss_cli.engine.correction import CorrectedSolver, state_frame
from fluidloss_cli.engine.device import resolve_device, to_device
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER, SOLVERS
from fluidloss_cli.engine.training import TASKS

STUDY_SIMULATIONS, STUDY_FRAMES, STUDY_EPOCHS, TRAIN_FRACTION = 8, 1500, 100, 0.9


def make_data(folder: Path) -> Path:
    """A coarse 64x32 Karman reference (two Reynolds numbers), made by the fluidloss command line."""
    fine, coarse = folder / "k.h5", folder / "k32.h5"
    for args in (["generate", "karman", "--res", "128x64", "--re", "1e5", "4e5", "--warmup", "0", "--frames", "40",
                  "--out", str(fine)], ["downsample", str(fine), "--res", "64x32", "--out", str(coarse)]):
        subprocess.run([sys.executable, "-m", "fluidloss_cli", *args], check=True, capture_output=True)
    return coarse


def batch_of(windows, size: int, offset: int) -> dict[str, torch.Tensor]:
    """`size` consecutive training windows from `offset` (wrapping), collated."""
    return default_collate([windows[(offset + i) % len(windows)] for i in range(size)])


def synchronised(device: torch.device) -> float:
    """perf_counter after the device's queued work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def step_seconds(data: Path, solver: str | None, batch: int, unroll: int, steps: int,
                 device: torch.device = torch.device("cpu")) -> float:
    """Median seconds of one SOL training step (after one warm-up step) through `solver`; with None, the correction
    network's own part of a step: `unroll` forward passes on a batch of its input channels, one backward and the Adam
    step, no solver (the floor of any solver's step)."""
    setup = TASKS["sol"](data=data, unroll=unroll, solver=solver or DEFAULT_SOLVER, val_split=0.1)
    torch.manual_seed(0)
    model = model_class(setup.model)(**setup.model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    if solver is None:
        height, width = setup.train[0]["velocity_x"].shape[-2:]  # [H, W+1]: the network sees the (H+1) x (W+1) grid
        inputs = torch.randn(batch, setup.model_config["in_channels"], height + 1, width, device=device)

        def batch_loss(k: int) -> torch.Tensor:
            return sum(model(inputs).square().mean() for _ in range(unroll))
    else:
        loss = build_loss("mse")

        def batch_loss(k: int) -> torch.Tensor:
            return setup.batch_loss(model, loss, to_device(batch_of(setup.train, batch, k * batch), device))
    times = []
    for k in range(steps + 1):
        started = synchronised(device)
        value = batch_loss(k)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        times.append(synchronised(device) - started)
    return statistics.median(times[1:])


def rollout_ms(solver: str, steps: int = 20, device: torch.device = torch.device("cpu")) -> float:
    """Milliseconds per step of a corrected 64x32 Karman rollout (batch 1, untrained network)."""
    corrected = CorrectedSolver("karman", Resolution(64, 32), 1.0, device, solver)
    model = model_class("sol")(in_channels=5, out_channels=2, width=32, blocks=2, kernel_size=5).requires_grad_(False)
    model = model.to(device)
    frame = to_device({k: v[None] for k, v in state_frame(corrected.scene.initial_state()).items()}, device)
    reynolds = torch.tensor([1e5], device=device)
    corrected.rollout(frame, reynolds, 2, model)  # warm-up: compiles PhiFlow's step, factorises the native matrix
    started = synchronised(device)
    corrected.rollout(frame, reynolds, steps, model)
    return 1e3 * (synchronised(device) - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", nargs="+", type=int, default=[4, 16, 32, 64])
    parser.add_argument("--unrolls", nargs="+", type=int, default=[4, 16])
    parser.add_argument("--steps", type=int, default=3, help="Timed training steps per measurement.")
    parser.add_argument("--repeats", type=int, default=1, help="Interleaved measurements per solver and setting.")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (auto: cuda where there is one).")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp))
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(f"train sol, karman 64x32, {where}, {torch.get_num_threads()} CPU thread; samples/s (median of "
              f"{args.steps} "
              f"steps x {args.repeats} interleaved runs); 100 epochs of the full study")
        print(f"{'batch':>5} {'unroll':>6} | {'phiflow':>8} {'native':>8} {'ratio':>6} {'network':>8} | "
              f"{'phiflow 100 ep':>14} {'native 100 ep':>14}   (network: the correction network alone, no solver)")
        for unroll in args.unrolls:
            windows = TRAIN_FRACTION * STUDY_SIMULATIONS * (STUDY_FRAMES - unroll)
            for batch in args.batches:
                rates: dict[str, list[float]] = {kind: [] for kind in (*SOLVERS, "network")}
                for _ in range(args.repeats):
                    for solver in ("phiflow", "native"):
                        rates[solver].append(batch / step_seconds(data, solver, batch, unroll, args.steps, device))
                    rates["network"].append(batch / step_seconds(data, None, batch, unroll, args.steps, device))
                phiflow, native, network = (statistics.median(rates[s]) for s in ("phiflow", "native", "network"))
                hours = {s: STUDY_EPOCHS * windows / r / 3600 for s, r in (("phiflow", phiflow), ("native", native))}
                print(f"{batch:>5} {unroll:>6} | {phiflow:>8.1f} {native:>8.1f} {native / phiflow:>5.1f}x {network:>8.1f} | "
                      f"{hours['phiflow']:>12.1f} h {hours['native']:>12.1f} h", flush=True)
    ms = {solver: rollout_ms(solver, device=device) for solver in ("phiflow", "native")}
    print(f"corrected rollout, karman 64x32, batch 1: phiflow (compiled) {ms['phiflow']:.1f} ms/step, native "
          f"{ms['native']:.1f} ms/step, ratio {ms['phiflow'] / ms['native']:.1f}x")


if __name__ == "__main__":
    main()
