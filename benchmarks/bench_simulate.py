"""Benchmark: the rollout speed-ups, each against its baseline in the same run, interleaved (new, old, new, ...).

1. engine/phiflow_patch.py (face geometry memo, integer fast path of `close`) against PhiFlow's own functions, for
   one compiled scene step and for the rebuild of a corrected SOL state, per scene and resolution.
2. CorrectedSolver's compiled SOL step (solver and correction in one compiled function) against the compiled solver
   step followed by the correction outside it.

Run from the repository root:  python benchmarks/bench_simulate.py [--repeats 5] [--threads 2]
Needs no data: it steps on from each scene's initial state (after 20 steps).
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from fluidloss_cli.engine import phiflow_patch
from fluidloss_cli.engine.correction import CorrectedSolver, correction_channels
from fluidloss_cli.engine.models.sol_net import SolNet
from fluidloss_cli.engine.phiflow_grids import staggered_from_faces
from fluidloss_cli.engine.resolution import Resolution

SETUPS = [("karman", Resolution(64, 32), 1.0), ("karman", Resolution(128, 64), 1.0),
          ("buoyancy", Resolution(64, 64), 0.1), ("buoyancy", Resolution(128, 128), 0.1)]


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, calls: int) -> dict[str, float]:
    """Median milliseconds per call of each variant, timed in turns after one warm-up call each."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()
    for _ in range(repeats):
        for name, run in variants.items():
            started = time.perf_counter()
            for _ in range(calls):
                run()
            times[name].append(1e3 * (time.perf_counter() - started) / calls)
    return {name: statistics.median(values) for name, values in times.items()}


def patched(on: bool, run: Callable[[], object]) -> Callable[[], object]:
    """`run` with fluidloss's PhiFlow speed-ups, or with PhiFlow's own functions."""
    def switched() -> object:
        phiflow_patch.use(on)
        try:
            return run()
        finally:
            phiflow_patch.use(True)
    return switched


def speed_ups(repeats: int) -> None:
    """Compiled step and corrected-state rebuild, with and without the speed-ups."""
    print("PhiFlow speed-ups (engine/phiflow_patch.py): ms per call, median of interleaved runs")
    for scene, resolution, dt in SETUPS:
        solver = CorrectedSolver(scene, resolution, dt, torch.device("cpu"), solver="phiflow")
        start = {name: value[None] for name, value in solver.frame(solver.template).items()}
        reynolds = torch.tensor([2e5])
        current = {"state": solver.state(start)}

        def advance() -> None:
            """One compiled step from the last state, so the pressure solve stays warm-started as in a rollout."""
            current["state"] = solver.step(current["state"], reynolds, compiled=True)

        for _ in range(20):
            advance()
        frame = solver.frame(current["state"])
        jobs = {"step": advance,
                "rebuild": lambda: staggered_from_faces(frame["velocity_x"], frame["velocity_y"],
                                                        solver.template["velocity"])}
        for job, run in jobs.items():
            ms = interleaved({"patched": patched(True, run), "phiflow": patched(False, run)}, repeats, 5)
            print(f"  {scene:8s} {str(resolution):7s} {job:7s}  patched {ms['patched']:6.2f}  phiflow "
                  f"{ms['phiflow']:6.2f}  speed-up {ms['phiflow'] / ms['patched']:.2f}x")


def fused_correction(repeats: int) -> None:
    """A corrected rollout step: solver and correction compiled together (CorrectedSolver.rollout) against the
    compiled solver step followed by the correction outside it, as rollouts ran before (small SolNet, width 16)."""
    print("SOL step, solver + correction compiled as one: ms per step, median of interleaved runs")
    for scene, resolution, dt in SETUPS[::2]:
        solver = CorrectedSolver(scene, resolution, dt, torch.device("cpu"), solver="phiflow")
        model = SolNet(*correction_channels(scene), width=16).eval().requires_grad_(False)
        reynolds = torch.tensor([2e5])
        start = solver.rollout({name: value[None] for name, value in solver.frame(solver.template).items()},
                               reynolds, 20)[-1]

        def separate() -> None:
            """Ten compiled solver steps, each followed by the correction."""
            state = solver.state(start)
            with torch.no_grad():
                for _ in range(10):
                    state = solver.correct(solver.step(state, reynolds, compiled=True), reynolds, model)

        ms = interleaved({"fused": lambda: solver.rollout(start, reynolds, 10, model), "separate": separate},
                         repeats, 1)
        print(f"  {scene:8s} {str(resolution):7s}  fused {ms['fused'] / 10:6.2f}  separate {ms['separate'] / 10:6.2f}"
              f"  speed-up {ms['separate'] / ms['fused']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    speed_ups(args.repeats)
    fused_correction(args.repeats)


if __name__ == "__main__":
    main()
