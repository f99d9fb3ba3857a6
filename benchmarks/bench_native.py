"""Benchmark: the native solver step (engine/native) against PhiFlow's, interleaved in one run.

Per Karman step, ms of (a) PhiFlow's compiled step (`Scene.step`, what generate and rollouts use), (b) PhiFlow's
eager `physics_step` (what SOL training differentiates through), (c) the native step; forward alone and forward plus
backward (a loss on the new velocity, backpropagated to the old one; the compiled step has no backward). Batch
1, 4 and 16, at 64x32 and 128x64; ratios against (a) and (b). Then the pressure solve alone at batch 1: the native
CG from the previous pressure against a sparse LU factorised once (scipy's splu; the matrix never changes).

Run from the repository root:  python benchmarks/bench_native.py [--device cpu|cuda] [--threads 1] [--repeats 5]
Needs no data: every variant steps from the same developed state (PhiFlow, after 40 compiled steps).
"""

import argparse
from collections.abc import Callable

import torch
from bench_simulate import interleaved

from fluidloss_cli.engine.correction import CorrectedSolver
from fluidloss_cli.engine.phiflow_grids import cell_tensor
from fluidloss_cli.engine.native import native_step
from fluidloss_cli.engine.native.obstacle_projection import conjugate_gradient
from fluidloss_cli.engine.resolution import Resolution

RESOLUTIONS = [Resolution(64, 32), Resolution(128, 64)]
BATCHES = [1, 4, 16]
WARMUP = 40


def synced(run: Callable[[], object], device: torch.device) -> Callable[[], None]:
    """`run`, waiting for the device to finish, so that the time is the work's and not the launch's."""
    def call() -> None:
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return call


def backward_of(step: Callable[[dict], dict], frame: dict) -> Callable[[], None]:
    """Forward and backward of a step: d(sum of the new velocity)/d(old velocity)."""
    def run() -> None:
        inputs = {k: v.detach().requires_grad_(k.startswith("velocity")) for k, v in frame.items()}
        out = step(inputs)
        (out["velocity_x"].square().sum() + out["velocity_y"].square().sum()).backward()
    return run


def variants(resolution: Resolution, batch: int, device: torch.device) -> dict[str, Callable[[], None]]:
    """The five timed jobs for one resolution and batch size."""
    solver = CorrectedSolver("karman", resolution, 1.0, device, solver="phiflow")
    reynolds = torch.linspace(1e5, 8e5, batch, device=device)
    state = solver.state({k: v[None].expand(batch, *v.shape).to(device)
                          for k, v in solver.frame(solver.template).items()})
    for _ in range(WARMUP):
        state = solver.step(state, reynolds, compiled=True)
    frame = solver.frame(state)
    native = native_step("karman", resolution, 1.0, device)
    pressure = cell_tensor(state["pressure"]).expand(batch, -1, -1)

    def phiflow_eager(inputs: dict) -> dict:
        return solver.frame(solver.step(solver.state(inputs), reynolds))

    def native_forward(inputs: dict) -> dict:
        return native({**inputs, "pressure": pressure}, reynolds)

    jobs = {"phiflow compiled": lambda: solver.step(state, reynolds, compiled=True),
            "phiflow eager": lambda: phiflow_eager(frame),
            "native": lambda: native_forward(frame),
            "phiflow eager +bwd": backward_of(phiflow_eager, frame),
            "native +bwd": backward_of(native_forward, frame)}
    return {name: synced(run if "bwd" in name else torch.no_grad()(run), device) for name, run in jobs.items()}


def pressure_solves(repeats: int) -> None:
    """Native warm-started CG against a factorised direct solve, one Karman pressure system at batch 1 (CPU)."""
    print("Pressure solve alone, batch 1, CPU: ms per solve")
    for resolution in RESOLUTIONS:
        solver = CorrectedSolver("karman", resolution, 1.0, torch.device("cpu"), solver="phiflow")
        reynolds = torch.tensor([2e5])
        state = solver.state({k: v[None] for k, v in solver.frame(solver.template).items()})
        for _ in range(WARMUP):
            previous, state = state, solver.step(state, reynolds, compiled=True)
        op = native_step("karman", resolution, 1.0).operator
        guess, target = (-cell_tensor(s["pressure"]).reshape(1, *resolution) for s in (previous, state))
        rhs = op(target)  # the system whose solution is this step's pressure, started from the last one
        jobs = {"native CG": lambda: conjugate_gradient(op, rhs, guess, 1e-5, 1e-4, 2000, 1),
                "factorised": lambda: op.direct_solve(rhs)}
        ms = interleaved(jobs, repeats, 5)
        print(f"  {str(resolution):7s} native CG {ms['native CG']:6.2f}  factorised {ms['factorised']:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"Karman step, ms per step (median of {args.repeats} interleaved runs) on {name}")
    print(f"{'res':7s} {'batch':>5s} | {'compiled':>9s} {'eager':>8s} {'native':>8s} {'vs (a)':>7s} {'vs (b)':>7s} | "
          f"{'eager+bwd':>9s} {'native+bwd':>10s} {'vs (b)':>7s}")
    for resolution in RESOLUTIONS:
        for batch in BATCHES:
            ms = interleaved(variants(resolution, batch, device), args.repeats, 2)
            a, b, c = ms["phiflow compiled"], ms["phiflow eager"], ms["native"]
            bb, cb = ms["phiflow eager +bwd"], ms["native +bwd"]
            print(f"{str(resolution):7s} {batch:5d} | {a:9.2f} {b:8.2f} {c:8.2f} {a / c:6.1f}x {b / c:6.1f}x | "
                  f"{bb:9.2f} {cb:10.2f} {bb / cb:6.1f}x", flush=True)
    if device.type == "cpu":
        pressure_solves(args.repeats)


if __name__ == "__main__":
    main()
