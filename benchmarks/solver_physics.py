"""The physics of the two `generate` solvers side by side: Karman shedding and the buoyancy plume's rise.

Karman (default 128x64, Re 4e5, seed 0, 1500 frames from the initial state): the probe of benchmarks/strouhal.py
(v_x three diameters downstream) analysed alike for PhiFlow's compiled step and the native step: Strouhal number,
period, late amplitude, onset and rise frames, and the largest probe difference. Buoyancy (default 128x128, 250
frames): the height of the density centroid at a few frames and its largest difference between the solvers.

    python benchmarks/solver_physics.py                  # about 5 minutes on one busy core
    python benchmarks/solver_physics.py --frames 1000 --karman 64x32 --buoyancy 64x64
"""

import argparse

import numpy as np
import torch
from strouhal import analyse

from fluidloss_cli.engine.data.stepping import STEPPERS
from fluidloss_cli.engine.physics import centroid_height
from fluidloss_cli.engine.evaluation.shedding import probe_vx
from fluidloss_cli.engine.resolution import parse_resolution
from fluidloss_cli.engine.scenes import scene_class


def frames_of(scene_name: str, resolution: str, frames: int, reynolds: float | None, solver: str):
    cls = scene_class(scene_name)
    scene = cls(parse_resolution(resolution), cls.default_dt, reynolds, 0)
    return scene, (values[0] for values in STEPPERS[solver]([scene], frames, 0))


def karman(resolution: str, frames: int, reynolds: float) -> None:
    signals = {}
    for solver in STEPPERS:
        scene, stream = frames_of("karman", resolution, frames, reynolds, solver)
        signals[solver] = np.array([probe_vx(frame["velocity_x"], scene.domain_size) for frame in stream])
    print(f"karman {resolution}, Re {reynolds:g}, {frames} frames; largest probe difference "
          f"{np.abs(signals['native'] - signals['phiflow']).max():.2e} (probe amplitude scale 1)")
    print("| solver | St | period (frames) | late amplitude | onset | reaches 90% at | periods analysed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for solver, signal in signals.items():
        r = analyse(signal, 1.0)
        print(f"| {solver} | {r['st']:.4f} | {r['period']:.1f} | {r['amplitude']:.3f} | {r['onset']} | {r['rise']} | "
              f"{r['periods']:.1f} |", flush=True)


def buoyancy(resolution: str, frames: int) -> None:
    heights = {}
    for solver in STEPPERS:
        scene, stream = frames_of("buoyancy", resolution, frames, None, solver)
        density = torch.from_numpy(np.stack([frame["density"] for frame in stream]))
        heights[solver] = centroid_height(density[1:], scene.domain_size[0] / scene.resolution.height)
    marks = [m for m in (49, 99, 149, 199, frames - 2) if m < frames - 1]
    print(f"\nbuoyancy {resolution}, {frames} frames: density centroid height (domain 200 tall) at frames "
          + ", ".join(str(m + 1) for m in marks))
    for solver, h in heights.items():
        print(f"  {solver:8s} " + "  ".join(f"{float(h[m]):7.3f}" for m in marks))
    print(f"  largest difference {float((heights['native'] - heights['phiflow']).abs().max()):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--karman", default="128x64")
    parser.add_argument("--buoyancy", default="128x128")
    parser.add_argument("--frames", type=int, default=1500, help="Karman frames")
    parser.add_argument("--re", type=float, default=4e5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    karman(args.karman, args.frames, args.re)
    buoyancy(args.buoyancy, 250)


if __name__ == "__main__":
    main()
