"""Benchmark: one forward pass of a frozen SOL or SR network at batch 1, as a rollout applies it every step, with the
weights in PyTorch's default (NCHW) layout against channels-last (what `build_model` gives), interleaved in the same
run, on the CPU with torch's default threads. The two layouts give the same values to float32 round-off (printed).

Run from the repository root:  python benchmarks/bench_inference.py [--repeats 50]
"""

import argparse
import statistics
import time

import torch
from torch import nn

from fluidloss_cli.engine.models import model_class

CASES = [  # name, model, config, input [C, H+1, W+1] (the face grid the networks see)
    ("SOL width 16, 64x32", "sol", dict(in_channels=5, out_channels=2, width=16, blocks=2, kernel_size=5), (5, 65, 33)),
    ("SOL width 16, 128x64", "sol", dict(in_channels=5, out_channels=2, width=16, blocks=2, kernel_size=5),
     (5, 129, 65)),
    ("SOL width 32, 64x32", "sol", dict(in_channels=5, out_channels=2, width=32, blocks=2, kernel_size=5), (5, 65, 33)),
    ("SR 2x width 16, 64x32", "sr", dict(in_channels=3, out_channels=3, factor=2, width=16, blocks=2), (3, 65, 33)),
    ("SR 2x width 16, 64x64", "sr", dict(in_channels=3, out_channels=3, factor=2, width=16, blocks=2), (3, 65, 65)),
    ("SR 2x width 16, 128x64", "sr", dict(in_channels=3, out_channels=3, factor=2, width=16, blocks=2), (3, 129, 65)),
]


def milliseconds(model: nn.Module, inputs: torch.Tensor) -> float:
    """Milliseconds of one forward pass without gradients."""
    with torch.no_grad():
        started = time.perf_counter()
        model(inputs)
        return 1e3 * (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50, help="Interleaved forward passes per layout.")
    args = parser.parse_args()
    print(f"frozen networks, batch 1, CPU, {torch.get_num_threads()} threads; median ms per forward pass of "
          f"{args.repeats} interleaved")
    print(f"{'network':>24} | {'NCHW':>7} {'channels-last':>13} {'speed-up':>8} | largest difference")
    for name, kind, config, shape in CASES:
        torch.manual_seed(0)
        plain = model_class(kind)(**config).eval().requires_grad_(False)
        for parameter in plain.parameters():  # trained-like weights: output layers start at zero
            parameter.add_(0.05 * torch.randn_like(parameter))
        last = model_class(kind)(**config).eval().requires_grad_(False)
        last.load_state_dict(plain.state_dict())
        last = last.to(memory_format=torch.channels_last)
        inputs = torch.randn(1, *shape)
        times: dict[str, list[float]] = {"nchw": [], "last": []}
        for _ in range(5):  # warm-up
            milliseconds(plain, inputs), milliseconds(last, inputs)
        for _ in range(args.repeats):
            times["nchw"].append(milliseconds(plain, inputs))
            times["last"].append(milliseconds(last, inputs))
        nchw, channels_last = statistics.median(times["nchw"]), statistics.median(times["last"])
        with torch.no_grad():
            difference = (plain(inputs) - last(inputs)).abs().max().item()
        print(f"{name:>24} | {nchw:7.2f} {channels_last:13.2f} {nchw / channels_last:7.2f}x | {difference:.1e}",
              flush=True)


if __name__ == "__main__":
    main()
