"""The study's time-cost evaluation: how fast is coarse simulation + learned correction + super-resolution against
the fine simulation, and how close does each come to the fine result?

Every variant rolls out the same N steps from the same frame of a fine dataset (the coarse ones from its
flux-conserving downsampling). Timings are interleaved (A B C D, A B C D, ...) after one warm-up run of each, CUDA
synchronised, and reported as medians with min and max. Accuracy compares each variant's frames with the stored
fine frames at the same times; coarse outputs are bicubic-upsampled first, which is the baseline SR must beat.
"""

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fluidloss_cli.engine.atomic import write_text
from fluidloss_cli.engine.checkpoints import checkpoint_of
from fluidloss_cli.engine.correction import Frame
from fluidloss_cli.engine.data.downsample import COARSENERS
from fluidloss_cli.engine.data.info import read_geometry, read_start
from fluidloss_cli.engine.device import to_device
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.metrics import Metric, measure
from fluidloss_cli.engine.notice import warn
from fluidloss_cli.engine.physics import Geometry
from fluidloss_cli.engine.pipeline import Pipeline
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.solvers import trained_solver
from fluidloss_cli.engine.upsample import upsample_frame


@dataclass
class VariantResult:
    """One variant's rollout times (seconds per run of N steps) and its mean error per metric against the fine."""

    name: str
    seconds: list[float] = field(default_factory=list)
    errors: dict[str, float | str] = field(default_factory=dict)
    """Metric -> mean over steps (NaN for a rollout that blew up), or the reason it is missing."""

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


def mean_error(metric: Metric, frames: list[Frame], reference: list[Frame], factor: int, geometry: Geometry,
               scored: list[str]) -> float:
    """Mean over steps of `metric` between (bicubic-upsampled by `factor`) frames and the fine reference, the losses
    over the `scored` fields (a scene's passive marker is not scored, as in `evaluate rollout`)."""
    values = []
    for predicted, truth in zip(frames, reference):
        fine = upsample_frame(predicted, factor) if factor > 1 else predicted
        values.append(measure([metric], {n: fine[n].cpu().float() for n in truth}, truth, geometry,
                              scored=scored)[metric.name])
    return torch.cat(values).mean().item()


def run_benchmark(data: Path, sim: str, frame: int, steps: int, coarse: Resolution, device: torch.device,
                  sol: Path | None = None, sr: Path | None = None, repeats: int = 3,
                  metrics: Sequence[Metric] = (), solver: str | None = None) -> tuple[str, list[VariantResult]]:
    """Time and score fine, coarse, coarse+SOL and coarse+SOL+SR rollouts of `steps` steps from one fine frame with
    evaluate's metric columns (`build_metrics` on the CPU; a loss whose weights are missing is a marked column).
    Every rollout steps `solver`, else the SOL checkpoint's, else the default: a correction may be timed on the
    solver it was not trained with (with a warning), so that both solvers answer the time-cost question. Returns the
    solver stepped and the results."""
    start = read_start(data, sim, frame, steps)
    fine_res = Resolution(start.fine["velocity_x"].shape[-2], start.fine["velocity_x"].shape[-1] - 1)
    factor = fine_res.height // coarse.height
    if fine_res.height % coarse.height or fine_res.width != coarse.width * factor or factor < 2:
        raise FluidlossError(f"--res {coarse} is not a coarser grid of {data} ({fine_res}) by one factor")
    coarse_start = to_device(coarsen(start.fine, factor), device)
    reynolds = start.reynolds.to(device)
    variants: dict[str, tuple[Callable[[], list[Frame]], int]] = {}
    if sol is not None:
        trained = trained_solver(checkpoint_of(sol, "sol")["task_info"])
        if solver not in (None, trained):
            warn(f"{sol} was trained with --solver {trained}: timing its correction on {solver} (the two solvers "
                 "agree to 1e-3 over 100 steps, docs/native_solver.md), scored as a correction it was not trained on")
        corrected = Pipeline.build(start.scene, coarse, start.dt, device, sol=sol, solver=solver, retarget=True)
        solver = corrected.solver.solver
    fine = Pipeline.build(start.scene, fine_res, start.dt, device, solver=solver)
    variants["fine"] = (lambda: fine.run(to_device(start.fine, device), reynolds, steps)[0], 1)
    plain = Pipeline(corrected.solver) if sol is not None else Pipeline.build(start.scene, coarse, start.dt, device,
                                                                            solver=solver)
    variants["coarse"] = (lambda: plain.run(coarse_start, reynolds, steps)[0], factor)
    if sol is not None:
        variants["coarse+SOL"] = (lambda: corrected.run(coarse_start, reynolds, steps)[0], factor)
    if sr is not None:
        full = Pipeline.build(start.scene, coarse, start.dt, device, sol=sol, sr=sr, solver=solver, retarget=True)
        if full.sr.factor != factor:
            raise FluidlossError(f"{sr} upsamples by {full.sr.factor}, but {data} is {factor}x finer than {coarse}")
        name = "coarse+SOL+SR" if sol is not None else "coarse+SR"
        variants[name] = (lambda: full.run(coarse_start, reynolds, steps)[1], 1)
    results = {name: VariantResult(name) for name in variants}
    outputs = {name: timed(run, device)[1] for name, (run, _) in variants.items()}  # warm-up: compiles the steps
    for _ in range(repeats):
        for name, (run, _) in variants.items():
            results[name].seconds.append(timed(run, device)[0])
    geometry = read_geometry(data, torch.device("cpu"))
    for name, (_, scale) in variants.items():
        for metric in metrics:
            results[name].errors[metric.name] = f"missing: {metric.missing}" if metric.missing else \
                mean_error(metric, outputs[name], start.reference, scale, geometry, fine.solver.compared)
    return fine.solver.solver, list(results.values())


def coarse_resolution(requested: Resolution | None, sol: Path | None) -> Resolution:
    """The coarse grid to benchmark: the one requested, else the one the SOL checkpoint was trained at (read from
    the checkpoint, without building its model); one of the two is given."""
    return requested if requested is not None else Resolution(*checkpoint_of(sol, "sol")["task_info"]["resolution"])


def write_report(out: Path, results: list[VariantResult], device: torch.device, solver: str, data: Path, sim: str,
                 frame: int, steps: int) -> None:
    """The benchmark as JSON (setup, provenance, each variant's run times and errors), written atomically."""
    content = {"device": str(device), "solver": solver, "data": str(data), "sim": sim, "frame": frame, "steps": steps,
               "provenance": provenance(),
               "variants": [{"name": r.name, "seconds_per_run": r.seconds, "ms_per_frame": r.per_frame_ms(steps),
                             "errors": r.errors} for r in results]}
    write_text(out, json.dumps(content, indent=1))
