"""Strouhal number and shedding onset of the `karman` scene at 64x32, 128x64 and 256x128 (table in docs/dataset.md).

Simulates the scene from its initial state (seed 0) on one CPU thread, probes the cross-stream velocity v_x three
diameters downstream of the cylinder centre every frame, and prints per resolution: the dominant frequency of the
developed part as St = f D / U (D = 20, U = 1), the period in frames, the late amplitude (median one-period
amplitude over the run's second half), the onset: the first frame from which the one-period amplitude stays within
10% of that level ("not settled" when it still drifts at the end), and the first frame at which it reaches 90% of it.

    python benchmarks/strouhal.py                     # 1500 frames each; ~35 min on one busy core (256x128: 26)
    python benchmarks/strouhal.py --frames 1000 --resolutions 64x32 128x64
"""

import argparse
import time

import numpy as np
import torch

from fluidloss_cli.engine.evaluation.shedding import dominant_frequency, onset_frame, probe_signal, rise_frame, strouhal
from fluidloss_cli.engine.resolution import parse_resolution
from fluidloss_cli.engine.scenes.karman import Karman


def analyse(signal: np.ndarray, dt: float) -> dict:
    """Strouhal number, period, late amplitude, onset and rise frames of a probe signal."""
    frames = len(signal)
    period = round(1 / (dominant_frequency(signal[frames // 2:], dt) * dt))  # from the second half
    onset, level = onset_frame(signal, period)
    rise = rise_frame(signal, period)
    analysed = signal[min(onset, rise):]
    frequency = dominant_frequency(analysed, dt)
    return dict(st=strouhal(frequency, Karman.wake), period=1 / (frequency * dt), amplitude=level,
                onset="not settled" if onset >= frames else onset, rise=rise, periods=len(analysed) * frequency * dt)


def measure(resolution: str, frames: int, reynolds: float, seed: int) -> dict:
    """Run one simulation and analyse its probe signal."""
    scene = Karman(parse_resolution(resolution), Karman.default_dt, reynolds, seed)
    start = time.perf_counter()
    signal = probe_signal(scene, frames)
    seconds = time.perf_counter() - start
    return dict(resolution=resolution, **analyse(signal, scene.dt), seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", nargs="+", default=["64x32", "128x64", "256x128"])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--re", type=float, default=4e5, help="Reynolds number (nu = 32**2 / Re)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"karman, Re {args.re:g}, seed {args.seed}, {args.frames} frames, dt {Karman.default_dt:g}; probe v_x at 3 D "
          "downstream of the cylinder centre")
    print("| resolution | St = f D / U | period (frames) | late amplitude | onset: stays within 10% from frame | "
          "reaches 90% at frame | periods analysed | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for resolution in args.resolutions:
        r = measure(resolution, args.frames, args.re, args.seed)
        print(f"| {r['resolution']} | {r['st']:.3f} | {r['period']:.1f} | {r['amplitude']:.3f} | {r['onset']} | "
              f"{r['rise']} | {r['periods']:.1f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
