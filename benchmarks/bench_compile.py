"""Benchmark: `torch.compile` (inductor, the default backend) of the inference pipeline's networks on the CPU against
eager PyTorch, measured in the same run and interleaved: one forward pass of a frozen SOL or SR network at batch 1
(channels-last, as `build_model` loads them), and a corrected Karman rollout on the native solver, whose SOL
network is the compiled one, with and without SR on every frame. Prints ms, the speed-up over eager, the largest
difference from eager's output and the one-off compile time.

Run from the repository root:  python benchmarks/bench_compile.py [--repeats 30] [--threads N] [--only networks]
Needs a C++ compiler (inductor generates C++ for the CPU).
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from fluidloss_cli.engine.correction import CorrectedSolver, state_frame
from fluidloss_cli.engine.models import model_class
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.upsample import super_resolve

SOL = dict(in_channels=5, out_channels=2, width=16, blocks=2, kernel_size=5)
SR = dict(in_channels=3, out_channels=3, factor=2, width=16, blocks=2)
CASES = [  # name, model, config, input [C, H+1, W+1] (the face grid the networks see)
    ("SOL width 16, 64x32", "sol", SOL, (5, 65, 33)),
    ("SOL width 16, 128x64", "sol", SOL, (5, 129, 65)),
    ("SOL width 32, 64x32", "sol", {**SOL, "width": 32}, (5, 65, 33)),
    ("SR 2x width 16, 64x32", "sr", SR, (3, 65, 33)),
    ("SR 2x width 16, 128x64", "sr", SR, (3, 129, 65)),
]


def frozen(kind: str, config: dict) -> nn.Module:
    """A network with trained-like weights (output layers start at zero), as `build_model` loads one."""
    torch.manual_seed(0)
    model = model_class(kind)(**config).eval().requires_grad_(False)
    for parameter in model.parameters():
        parameter.add_(0.05 * torch.randn_like(parameter))
    return model.to(memory_format=torch.channels_last)


def milliseconds(run: Callable[[], object]) -> float:
    with torch.no_grad():
        started = time.perf_counter()
        run()
        return 1e3 * (time.perf_counter() - started)


def compare(name: str, eager: Callable[[], torch.Tensor], compiled: Callable[[], torch.Tensor], repeats: int,
            per: int = 1) -> None:
    """Warm up (the compiled one compiles), time interleaved, print one row."""
    with torch.no_grad():
        started = time.perf_counter()
        compiled_out = compiled()
        compile_s = time.perf_counter() - started
        eager_out = eager()
        for _ in range(3):
            eager(), compiled()
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        times["eager"].append(milliseconds(eager) / per)
        times["compiled"].append(milliseconds(compiled) / per)
    plain, fast = statistics.median(times["eager"]), statistics.median(times["compiled"])
    difference = (compiled_out - eager_out).abs().max().item()
    print(f"{name:>34} | {plain:8.2f} {fast:9.2f} {plain / fast:7.2f}x | {difference:8.1e} | {compile_s:6.1f} s",
          flush=True)


def networks(repeats: int) -> None:
    for name, kind, config, shape in CASES:
        model = frozen(kind, config)
        compiled = torch.compile(model)
        inputs = torch.randn(1, *shape)
        compare(name, lambda: model(inputs), lambda: compiled(inputs), repeats)


def rollouts(repeats: int, steps: int = 10) -> None:
    """A corrected Karman 64x32 rollout (native solver, batch 1), then the same with SR 2x on every frame."""
    corrected = CorrectedSolver("karman", Resolution(64, 32), 1.0, torch.device("cpu"), "native")
    frame = {k: v[None] for k, v in state_frame(corrected.scene.initial_state()).items()}
    reynolds = torch.tensor([1e5])
    sol, sr = frozen("sol", SOL), frozen("sr", SR)
    sol_compiled, sr_compiled = torch.compile(sol), torch.compile(sr)
    stacked = ("velocity_x", "velocity_y", "density")

    def rollout(model: nn.Module, upsampler: nn.Module | None) -> torch.Tensor:
        frames = corrected.rollout(frame, reynolds, steps, model)
        if upsampler is not None:
            frames = [super_resolve(upsampler, {n: f[n] for n in stacked}, 2) for f in frames]
        return frames[-1]["velocity_x"]

    compare("coarse+SOL, karman 64x32, per step", lambda: rollout(sol, None), lambda: rollout(sol_compiled, None),
            repeats, per=steps)
    compare("coarse+SOL+SR, karman 64x32, per step", lambda: rollout(sol, sr),
            lambda: rollout(sol_compiled, sr_compiled), repeats, per=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="Interleaved runs of eager and compiled.")
    parser.add_argument("--threads", type=int, default=None, help="Torch threads (default: torch's).")
    parser.add_argument("--only", choices=("networks", "rollouts"), default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads; median ms of {args.repeats} interleaved "
          "runs, eager against torch.compile (inductor)")
    print(f"{'case':>34} | {'eager':>8} {'compiled':>9} {'speed-up':>8} | {'max diff':>8} | compile")
    if args.only in (None, "networks"):
        networks(args.repeats)
    if args.only in (None, "rollouts"):
        rollouts(max(3, args.repeats // 5))


if __name__ == "__main__":
    main()
