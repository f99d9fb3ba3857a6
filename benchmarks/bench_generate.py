"""Speed of `fluidloss generate` against a bare PhiFlow loop doing the same physics, in one run.

For each scene and resolution it times, interleaved (bare, generate, bare, generate, ...) after a
warm-up, a bare PhiFlow loop written as in PhiFlow's demos and the full `generate` pipeline (HDF5,
compression, progress reporting, atomic assembly), and prints per-frame cost, the ratio, and the
pressure solver's iterations; then the throughput of `--workers 2` over `--workers 1`.

    python benchmarks/bench_generate.py            # about 8 minutes on 2 cores
    python benchmarks/bench_generate.py --quick    # smaller runs, about 2 minutes
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from phi import math
from phi.field import CenteredGrid, Noise, StaggeredGrid, resample
from phi.geom import Box, Sphere
from phi.math import Solve, extrapolation, jit_compile, vec
from phi.physics import advect, diffuse, fluid
from phi.physics.fluid import Obstacle

from fluidloss_cli.engine.data.generation import generate, plan_job
from fluidloss_cli.engine.pressure import project_closed_box
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import scene_class

CASES = [("karman", Resolution(64, 32), 400), ("karman", Resolution(128, 64), 200), ("karman", Resolution(256, 128), 60),
         ("buoyancy", Resolution(64, 64), 400), ("buoyancy", Resolution(128, 128), 250), ("buoyancy", Resolution(256, 256), 120)]


def bare_karman(res: Resolution, frames: int) -> list[np.ndarray]:
    """Karman as a PhiFlow demo would write it: same domain, inflow faces, marker, cylinder, viscosity, solver."""
    grid = dict(x=res.width, y=res.height, bounds=Box(x=100, y=200))
    math.seed(0)
    held = np.zeros((res.height + 1, res.width))
    held[:2], held[:, [0, -1]] = 1, 1  # Um et al.'s inflow faces
    poke = np.zeros((res.height, res.width + 1))
    poke[res.height // 2 + 10:res.height // 2 + 20, res.width // 2 - 2:res.width // 2 + 2] = 1
    faces = StaggeredGrid(0, extrapolation.BOUNDARY, **grid)
    mask = faces.with_values(math.stack([math.tensor(0 * poke, math.spatial("y,x")), math.tensor(held, math.spatial("y,x"))], math.dual(vector="x,y")))
    velocity = StaggeredGrid(vec(x=0, y=1), extrapolation.BOUNDARY, **grid) + faces.with_values(
        math.stack([math.tensor(poke, math.spatial("y,x")), math.tensor(0 * held, math.spatial("y,x"))], math.dual(vector="x,y")))
    velocity += 0.05 * StaggeredGrid(Noise(scale=20, smoothness=1.0), extrapolation.BOUNDARY, **grid)
    pressure = CenteredGrid(0, extrapolation.ZERO, **grid)
    density = CenteredGrid(0, extrapolation.ZERO, **grid)
    marker = CenteredGrid(Box(x=(25, 75), y=(5, 10)), extrapolation.ZERO, **grid)
    cylinder = Obstacle(Sphere(x=50, y=50, radius=10))

    @jit_compile
    def step(v, d, p):
        v = diffuse.explicit(v, 32**2 / 1e5, 1.0)
        v = v * (1 - mask) + mask * vec(x=0, y=1)
        d = advect.semi_lagrangian(d + marker, v, 1.0)
        v = advect.semi_lagrangian(v, v, 1.0)
        v, p = fluid.make_incompressible(v, cylinder, Solve("CG", 1e-5, 1e-4, max_iterations=2000, x0=p))
        return v, d, p

    out = []
    for frame in range(frames):
        if frame:
            velocity, density, pressure = step(velocity, density, pressure)
        out.append(velocity.staggered_tensor().numpy("vector,y,x"))
        out.append(density.values.numpy("y,x"))
    return out


def bare_buoyancy(res: Resolution, frames: int) -> list[np.ndarray]:
    """The smoke plume as a PhiFlow demo would write it, with the closed-box projection."""
    grid = dict(x=res.width, y=res.height, bounds=Box(x=200, y=200))
    math.seed(0)
    velocity = project_closed_box(0.05 * StaggeredGrid(Noise(scale=20, smoothness=1.0), 0, **grid))
    density = CenteredGrid(0, extrapolation.ZERO_GRADIENT, **grid)
    source = CenteredGrid(Box(x=(50, 150), y=(0, 5)), extrapolation.ZERO_GRADIENT, **grid)

    @jit_compile
    def step(v, s):
        s = advect.mac_cormack(s, v, 0.1) + 0.1 * source
        v = advect.semi_lagrangian(v, v, 0.1) + 0.1 * resample(s * vec(x=0, y=0.5), to=v)
        return project_closed_box(v), s

    out = []
    for frame in range(frames):
        if frame:
            velocity, density = step(velocity, density)
        out.append(velocity.staggered_tensor().numpy("vector,y,x"))
        out.append(density.values.numpy("y,x"))
    return out


BARE = {"karman": bare_karman, "buoyancy": bare_buoyancy}


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def run_generate(scene: str, res: Resolution, frames: int, workers: int = 1, reynolds=None) -> None:
    reynolds = reynolds or ([1e5] if scene == "karman" else None)
    job = plan_job(scene, res, frames, None, reynolds, [0], warmup=0)
    with tempfile.TemporaryDirectory() as folder:
        generate(job, Path(folder) / "out.h5", workers=workers)


def solver_iterations(scene: str, res: Resolution) -> str:
    """CG iterations per step after a short spin-up (un-compiled step, so phiml can report them)."""
    cls = scene_class(scene)
    sim = cls(res, cls.default_dt, 1e5 if cls.reynolds_range else None, 0)
    if scene == "buoyancy":
        return "0 (direct cosine transform)"
    state = sim.initial_state()
    for _ in range(20):
        state = sim.step(state)
    with math.SolveTape() as tape:
        for _ in range(3):
            state = sim.physics_step(state)
    return f"{statistics.mean(int(solve.iterations.max) for solve in tape.solves):.0f} (CG)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the frames, one repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=["frames", "workers"], help="run one of the two parts")
    args = parser.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.2f} (other work on the 2 cores skews the workers ratio)")
    torch.set_num_threads(1)  # as each generate worker does
    if args.only != "workers":
        compare_with_bare_loop(args)
    if args.only != "frames":
        compare_workers(args.quick)


def compare_with_bare_loop(args: argparse.Namespace) -> None:
    """Per-frame cost of generate against the bare loop, for every scene and resolution."""
    repeats = 1 if args.quick else args.repeats
    print(f"{'scene':9} {'res':8} {'frames':>6} {'bare ms/frame':>14} {'generate ms/frame':>18} {'ratio':>6}  pressure iterations/step")
    for scene, res, frames in CASES:
        frames = max(20, frames // 4) if args.quick else frames
        BARE[scene](res, 3), run_generate(scene, res, 3)  # warm-up: imports, compilation caches
        bare, ours = [], []
        for _ in range(repeats):
            bare.append(timed(BARE[scene], res, frames) / frames)
            ours.append(timed(run_generate, scene, res, frames) / frames)
        b, g = statistics.median(bare), statistics.median(ours)
        print(f"{scene:9} {str(res):8} {frames:6d} {1e3 * b:14.2f} {1e3 * g:18.2f} {g / b:6.3f}  {solver_iterations(scene, res)}")


def compare_workers(quick: bool) -> None:
    """Throughput of --workers 2 against --workers 1 on the same four simulations."""
    sims, frames = (4, 100) if quick else (4, 400)
    reynolds = [k * 1e5 for k in range(1, sims + 1)]
    one = timed(run_generate, "karman", Resolution(128, 64), frames, 1, reynolds)
    two = timed(run_generate, "karman", Resolution(128, 64), frames, 2, reynolds)
    print(f"\nworkers: {sims} karman 128x64 simulations x {frames} frames: --workers 1 {one:.1f} s, "
          f"--workers 2 {two:.1f} s, throughput ratio {one / two:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()
