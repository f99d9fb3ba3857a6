"""The Karman step's CG warm start under `jit_compile`: iterations and compiled-step time, before and after the fix.

phiml passes a `Solve` to its linear solve as an auxiliary (constant) argument, so a `Solve(x0=previous pressure)`
built inside a `jit_compile`d step is frozen at tracing: every later compiled step started CG from that stale guess.
The scene now subtracts the previous pressure's gradient and solves for the increment from zero (`Karman.project`),
so the guess is a traced tensor. This script prints, per resolution, from a developed state (40 compiled steps):
CG iterations of the eager step from the previous pressure and from zero (phiml's SolveTape; a compiled step reports
none), whether the compiled step now equals the eager warm-started step, and ms per compiled step of the scene as
now against the old `Solve(x0=...)` step, interleaved.

    python benchmarks/warm_start.py [--repeats 5] [--steps 20]
"""

import argparse
import statistics
import time

import torch
from phi import math
from phi.physics import advect, diffuse, fluid

from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import scene_class

RESOLUTIONS = [Resolution(64, 32), Resolution(128, 64)]
MARKER_RATE = 1.0


def old_step(scene):
    """The step as it was: make_incompressible with Solve(x0=state pressure), the guess frozen at tracing."""
    def physics_step(state):
        velocity = scene.impose_inflow(diffuse.explicit(state["velocity"], scene.viscosity, scene.dt))
        density = advect.semi_lagrangian(state["density"] + MARKER_RATE * scene.dt * scene.marker, velocity, scene.dt)
        velocity = advect.semi_lagrangian(velocity, velocity, scene.dt)
        velocity, pressure = fluid.make_incompressible(velocity, scene.obstacle, scene.cg_solve(state["pressure"]))
        return {"velocity": velocity, "density": density, "pressure": pressure}
    return math.jit_compile(physics_step)


def iterations(scene, state, guess) -> int:
    with math.SolveTape() as tape:
        scene.physics_step({**state, "pressure": guess})
    return int(tape.solves[0].iterations.max)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cls = scene_class("karman")
    for resolution in RESOLUTIONS:
        scene = cls(resolution, 1.0, 1e5, 0)
        steps = {"now": scene.step, "old": old_step(scene)}
        states = {name: scene.initial_state() for name in steps}
        for _ in range(40):
            states = {name: steps[name](state) for name, state in states.items()}
        state = states["now"]
        warm, cold = iterations(scene, state, state["pressure"]), iterations(scene, state, 0 * state["pressure"])
        compiled, eager = scene.step(state), scene.physics_step(state)
        same = float(math.max(abs(compiled["velocity"].values - eager["velocity"].values)).max) == 0
        times = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, step in steps.items():
                started = time.perf_counter()
                for _ in range(args.steps):
                    states[name] = step(states[name])
                times[name].append(1e3 * (time.perf_counter() - started) / args.steps)
        now, old = statistics.median(times["now"]), statistics.median(times["old"])
        print(f"karman {resolution}: CG iterations from the previous pressure {warm}, from zero {cold}; compiled step "
              f"equals the eager warm-started one: {same}; ms/compiled step now {now:.1f}, old {old:.1f} "
              f"({old / now:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
