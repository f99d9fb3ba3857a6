"""Benchmark: `train sol --amp bf16` against float32, the training samples/s that `fluidloss train` itself reports
(metrics.jsonl), for Um et al.'s network (5x5, width 32, 5 residual blocks) at unroll 4 and batch 3, as
study_pbdl.toml trains it. Float32 and bf16 runs alternate (off, bf16, off, bf16 ...) so that a change of load
hits both; the ratio of their medians is printed per loss. Goal: bf16 >= 1.5x float32 on a CPU with AVX512-BF16.

Run from the repository root:  python benchmarks/bench_amp.py [--losses mse lsim] [--repeats 2] [--threads 1]
It makes its own small Karman data (128x64 -> 64x32, 3 simulations x 60 frames) in a temp folder.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

NETWORK = ["--unroll", "4", "--width", "32", "--blocks", "5", "--kernel-size", "5", "--batch-size", "3"]


def fluidloss(*args: str, threads: int) -> None:
    """Run one fluidloss command on `threads` torch threads, failing the benchmark when it fails."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-m", "fluidloss_cli", *args], check=True, capture_output=True, env=env)


def samples_per_s(folder: Path, data: Path, loss: str, amp: str, run: int, threads: int) -> float:
    """One epoch of `train sol`; the training samples/s it recorded (validation and checkpoints excluded)."""
    out = folder / f"{loss}-{amp}-{run}"
    fluidloss("train", "sol", "--data", str(data), *NETWORK, "--loss", loss, "--amp", amp, "--epochs", "1",
              "--device", "cpu", "--out", str(out), threads=threads)
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--losses", nargs="+", default=["mse", "lsim"])
    parser.add_argument("--repeats", type=int, default=2, help="Alternating measurements per precision.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (a study worker of 2 on 2 cores: 1).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-amp-") as tmp:
        folder = Path(tmp)
        fine, coarse = folder / "k.h5", folder / "k32.h5"
        fluidloss("generate", "karman", "--res", "128x64", "--re", "1e5", "3e5", "6e5", "--frames", "60", "--warmup",
                  "0", "--workers", "2", "--out", str(fine), threads=args.threads)
        fluidloss("downsample", str(fine), "--res", "64x32", "--out", str(coarse), threads=args.threads)
        print(f"train sol, Um et al.'s network, unroll 4, batch 3, {args.threads} thread(s); samples/s "
              f"(median of {args.repeats}, alternating)")
        print(f"{'loss':<10}{'float32':>10}{'bf16':>10}{'bf16/fp32':>11}")
        for loss in args.losses:
            rates: dict[str, list[float]] = {"off": [], "bf16": []}
            for run in range(args.repeats):
                for amp in rates:
                    rates[amp].append(samples_per_s(folder, coarse, loss, amp, run, args.threads))
            fp32, bf16 = (statistics.median(rates[a]) for a in ("off", "bf16"))
            print(f"{loss:<10}{fp32:>10.2f}{bf16:>10.2f}{bf16 / fp32:>10.2f}x")


if __name__ == "__main__":
    main()
