"""The study's time-cost evaluation: how fast is coarse simulation + learned correction + super-resolution against
the fine simulation, and how close does each come to the fine result?

Every variant rolls out the same N steps from the same frame of a fine dataset (the coarse ones from its
flux-conserving downsampling). Timings are interleaved (A B C D, A B C D, ...) after one warm-up run of each, CUDA
synchronised, and reported as medians with min and max. Accuracy compares each variant's frames with the stored
fine frames at the same times; coarse outputs are bicubic-upsampled first, which is the baseline SR must beat.

With a frontier (engine/frontier.py), the plain solver also rolls out at resolutions between coarse and fine, timed
and scored in the same way, and each learned row is placed on that error-versus-cost curve (`place_on_frontier`).
"""

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from fluidloss_cli.engine.atomic import write_bytes, write_text
from fluidloss_cli.engine.checkpoints import checkpoint_of
from fluidloss_cli.engine.correction import Frame
from fluidloss_cli.engine.data.downsample import COARSENERS
from fluidloss_cli.engine.data.info import DatasetInfo, read_geometry, read_start
from fluidloss_cli.engine.device import to_device
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.frontier import (
    FRONTIER_METRICS,
    EqualAccuracy,
    check_frontier,
    equal_accuracy,
    frontier_chart,
    resample_frame,
)
from fluidloss_cli.engine.metrics import Metric, measure
from fluidloss_cli.engine.notice import warn
from fluidloss_cli.engine.physics import Geometry
from fluidloss_cli.engine.pipeline import Pipeline
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.results import COARSE, COARSE_GRID, FINE
from fluidloss_cli.engine.solvers import trained_solver
from fluidloss_cli.engine.upsample import upsample_to


@dataclass
class VariantResult:
    """One variant's rollout times (seconds per run of N steps) and its mean error per metric against the fine."""

    name: str
    seconds: list[float] = field(default_factory=list)
    errors: dict[str, float | str] = field(default_factory=dict)
    """Metric -> mean over steps (NaN for a rollout that blew up), or the reason it is missing."""
    resolution: Resolution | None = None
    """The grid of a plain-solver row on the frontier (the coarse one and those of `--frontier`); None otherwise."""

    def per_frame_ms(self, steps: int) -> tuple[float, float, float]:
        """Median, min and max milliseconds per frame."""
        runs = [1e3 * s / steps for s in self.seconds]
        return statistics.median(runs), min(runs), max(runs)


def coarsen(frame: Frame, factor: int) -> Frame:
    """The flux-conserving downsampling of a frame, as `fluidloss downsample` does it."""
    return {n: torch.from_numpy(np.ascontiguousarray(COARSENERS[n](v.numpy(), factor, factor)))
            for n, v in frame.items()}


def timed(run: Callable[[], list[Frame]], device: torch.device) -> tuple[float, list[Frame]]:
    """Seconds of one rollout (CUDA synchronised) and its frames."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    frames = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started, frames


def mean_error(metric: Metric, frames: list[Frame], reference: list[Frame], geometry: Geometry,
               scored: list[str]) -> float:
    """Mean over steps of `metric` between frames (bicubic-upsampled to the fine grid when coarser) and the fine
    reference, the losses over the `scored` fields (a scene's passive marker is not scored, as in `evaluate
    rollout`)."""
    values = []
    for predicted, truth in zip(frames, reference):
        shape = truth["velocity_x"].shape
        fine = predicted if predicted["velocity_x"].shape[-2:] == shape[-2:] else \
            upsample_to(predicted, Resolution(shape[-2], shape[-1] - 1))
        values.append(measure([metric], {n: fine[n].cpu().float() for n in truth}, truth, geometry,
                              scored=scored)[metric.name])
    return torch.cat(values).mean().item()


def run_benchmark(data: Path, sim: str, frame: int, steps: int, coarse: Resolution, device: torch.device,
                  sol: Path | None = None, sr: Path | None = None, repeats: int = 3,
                  metrics: Sequence[Metric] = (), solver: str | None = None,
                  frontier: Sequence[Resolution] = (), amp: str = "off") -> tuple[str, list[VariantResult]]:
    """Time and score fine, coarse, coarse+SOL and coarse+SOL+SR rollouts of `steps` steps from one fine frame with
    evaluate's metric columns (`build_metrics` on the CPU; a loss whose weights are missing is a marked column),
    and the plain solver at each `frontier` resolution (between coarse and fine) from the fine frame resampled
    there. Every rollout steps `solver`, else the SOL checkpoint's, else the default: a correction may be timed on
    the solver it was not trained with (with a warning), so that both solvers answer the time-cost question. With
    `amp` bf16 the learned rows' networks run under bf16 autocast (`Pipeline.amp`; the solver in float32).
    Returns the solver stepped and the results (the frontier's rows after the coarse one)."""
    start = read_start(data, sim, frame, steps)
    fine_res = Resolution(start.frame["velocity_x"].shape[-2], start.frame["velocity_x"].shape[-1] - 1)
    if not coarser_by_one_factor(fine_res, coarse):
        raise FluidlossError(f"--res {coarse} is not a coarser grid of {data} ({fine_res}) by one factor")
    factor = fine_res.height // coarse.height
    frontier = check_frontier(frontier, coarse, fine_res)
    coarse_start = to_device(coarsen(start.frame, factor), device)
    reynolds = start.reynolds.to(device)
    variants: dict[str, Callable[[], list[Frame]]] = {}
    if sol is not None:
        trained = trained_solver(checkpoint_of(sol, "sol")["task_info"])
        if solver not in (None, trained):
            warn(f"{sol} was trained with --solver {trained}: timing its correction on {solver} (the two solvers "
                 "agree to 1e-3 over 100 steps, docs/native_solver.md), scored as a correction it was not trained on")
        corrected = Pipeline.build(start.scene, coarse, start.dt, device, sol=sol, solver=solver, retarget=True,
                                   amp=amp)
        solver = corrected.solver.solver
    fine = Pipeline.build(start.scene, fine_res, start.dt, device, solver=solver)
    variants[FINE] = lambda: fine.run(to_device(start.frame, device), reynolds, steps)[0]
    plain = Pipeline(corrected.solver) if sol is not None else Pipeline.build(start.scene, coarse, start.dt, device,
                                                                            solver=solver)
    variants[COARSE] = lambda: plain.run(coarse_start, reynolds, steps)[0]
    grids = {COARSE_GRID: coarse}
    for resolution in frontier:
        name = f"plain {resolution}"
        grids[name] = resolution
        variants[name] = partial(plain_rollout, Pipeline.build(start.scene, resolution, start.dt, device,
                                                               solver=solver),
                                 to_device(resample_frame(start.frame, resolution), device), reynolds, steps)
    if sol is not None:
        variants["coarse+SOL"] = lambda: corrected.run(coarse_start, reynolds, steps)[0]
    if sr is not None:
        full = Pipeline.build(start.scene, coarse, start.dt, device, sol=sol, sr=sr, solver=solver, retarget=True,
                              amp=amp)
        if full.sr.factor != factor:
            raise FluidlossError(f"{sr} upsamples by {full.sr.factor}, but {data} is {factor}x finer than {coarse}")
        name = "coarse+SOL+SR" if sol is not None else "coarse+SR"
        variants[name] = lambda: full.run(coarse_start, reynolds, steps)[1]
    results = {name: VariantResult(name, resolution=grids.get(name)) for name in variants}
    outputs = {name: timed(run, device)[1] for name, run in variants.items()}  # warm-up: compiles the steps
    for _ in range(repeats):
        for name, run in variants.items():
            results[name].seconds.append(timed(run, device)[0])
    geometry = read_geometry(data, torch.device("cpu"))
    for name in variants:
        for metric in metrics:
            results[name].errors[metric.name] = f"missing: {metric.missing}" if metric.missing else \
                mean_error(metric, outputs[name], start.reference, geometry, fine.solver.compared)
    return fine.solver.solver, list(results.values())


def plain_rollout(pipeline: Pipeline, start: Frame, reynolds: torch.Tensor, steps: int) -> list[Frame]:
    """The frames of an uncorrected rollout."""
    return pipeline.run(start, reynolds, steps)[0]


def place_on_frontier(results: list[VariantResult], steps: int) -> list[EqualAccuracy]:
    """Each learned row (coarse+SOL, coarse+SOL+SR, ...) on the plain solver's frontier (the coarse row and the
    `--frontier` rows, in order of resolution) for every metric of FRONTIER_METRICS that was scored: the plain
    solver's interpolated cost at the row's error over the row's own cost (engine/frontier.py)."""
    plain = [r for r in results if r.resolution is not None]
    if len(plain) < 2:
        return []
    fine_ms = next((r.per_frame_ms(steps)[0] for r in results if r.name == FINE), None)
    placed = []
    for result in results:
        if result.resolution is not None or result.name == FINE:
            continue
        for metric in FRONTIER_METRICS:
            error = result.errors.get(metric)
            if not isinstance(error, float):
                continue  # not asked for, or its weights are missing (the table says so)
            points = [(r.per_frame_ms(steps)[0], r.errors[metric]) for r in plain]
            placed.append(equal_accuracy(result.name, metric, error, result.per_frame_ms(steps)[0], points, fine_ms))
    return placed


def write_frontier_chart(out: Path, results: list[VariantResult], steps: int, solver: str, title: str) -> bool:
    """The frontier chart (engine/frontier.py) as a PNG, written atomically: every metric of FRONTIER_METRICS
    that was scored, the plain rows as the frontier, the learned rows as points, the fine cost as a line. False
    (and nothing written) when none of them was scored."""
    rows = [(r.name if r.name != COARSE else f"coarse {r.resolution}", r.per_frame_ms(steps)[0], r.errors)
            for r in results if r.resolution is not None]
    learned = [(r.name, r.per_frame_ms(steps)[0], r.errors) for r in results
               if r.resolution is None and r.name != FINE]
    fine = next(r for r in results if r.name == FINE)
    scored = [m for m in FRONTIER_METRICS if isinstance(fine.errors.get(m), float)]
    if not scored:
        return False
    write_bytes(out, frontier_chart(rows, learned, scored, (FINE, fine.per_frame_ms(steps)[0]),
                                    f"{title} ({solver} solver)"))
    return True


def coarse_resolution(requested: Resolution | None, sol: Path | None, data: Path) -> Resolution:
    """The coarse grid to benchmark: the one requested, else the one the SOL checkpoint was trained at (read from
    the checkpoint, without building its model); one of the two is given. Checked against the fine dataset `data`
    before any work, the message naming where the grid came from."""
    coarse = requested if requested is not None else Resolution(*checkpoint_of(sol, "sol")["task_info"]["resolution"])
    fine = DatasetInfo.read(data, "benchmark").resolution
    if not coarser_by_one_factor(fine, coarse):
        origin = f"--res {coarse}" if requested is not None else f"{sol} was trained at {coarse}, which"
        raise FluidlossError(f"{origin} is not a coarser grid of {data} ({fine}) by one factor"
                             + ("" if requested is not None else ": give the fine dataset of its simulations"))
    return coarse


def coarser_by_one_factor(fine: Resolution, coarse: Resolution) -> bool:
    """Whether `coarse` is `fine` made coarser by one integer factor of 2 or more on both axes."""
    factor = fine.height // coarse.height
    return fine.height % coarse.height == 0 and fine.width == coarse.width * factor and factor >= 2


def write_report(out: Path, results: list[VariantResult], device: torch.device, solver: str, data: Path, sim: str,
                 frame: int, steps: int, placed: Sequence[EqualAccuracy] | None = None, amp: str = "off") -> None:
    """The benchmark as JSON (setup, provenance, each variant's run times and errors; with a frontier, its rows
    (names, in order of resolution) and each learned row's equal-accuracy speed-ups), written atomically."""
    content = {"device": str(device), "solver": solver, "amp": amp, "data": str(data), "sim": sim, "frame": frame,
               "steps": steps,
               "provenance": provenance(),
               "variants": [{"name": r.name, "seconds_per_run": r.seconds, "ms_per_frame": r.per_frame_ms(steps),
                             "errors": r.errors, **({"resolution": str(r.resolution)} if r.resolution else {})}
                            for r in results]}
    if placed is not None:
        content["frontier"] = {"rows": [r.name for r in results if r.resolution is not None],
                               "equal_accuracy": [asdict(p) for p in placed]}
    write_text(out, json.dumps(content, indent=1))
