"""Rollouts of every checkpoint and of the baselines on a test set, measured step by step against the reference.

Coarse rows: the uncorrected coarse solver (`coarse`) and the solver corrected by each SOL checkpoint, compared with
the coarse reference. Fine rows (with a fine reference): every coarse row upsampled bicubically (`+bicubic`, the
baseline) and by each SR checkpoint, compared with the fine reference. The losses compare the fields a correction
acts on and is trained on: a scene's passive fields (Karman's marker) are carried but not scored, as Um et al. score
velocity only. Each test simulation is rolled out from
every start frame; a simulation's values are the mean over its start frames.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from fluidloss_cli.engine.correction import Frame
from fluidloss_cli.engine.data.info import DatasetInfo, read_dt, read_geometry, sr_factor
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.metrics import Metric, build_metrics, measure
from fluidloss_cli.engine.models.sr_net import FACTORS
from fluidloss_cli.engine.physics import Geometry, energy_spectrum
from fluidloss_cli.engine.pipeline import Pipeline
from fluidloss_cli.engine.results import BICUBIC, COARSE, COARSE_GRID, FINE_GRID, REFERENCE
from fluidloss_cli.engine.upsample import upsample_frame

@dataclass(frozen=True)
class ComparedGrid:
    """A grid the rows are compared on: its reference dataset, cell size and obstacles."""

    info: DatasetInfo
    geometry: Geometry


@dataclass
class Evaluation:
    """A checked evaluation: test data, the coarse rows (solver and correction) and upsamplers to roll out, metrics."""

    grids: dict[str, ComparedGrid]
    corrections: dict[str, Pipeline]
    """Row label -> its coarse solver and SOL model (None for the uncorrected row); each model on its own solver."""
    upsamplers: dict[str, Callable[[Frame], Frame]]
    checkpoints: dict[str, dict[str, Path]]
    """Row label -> file, of the SOL and of the SR checkpoints."""
    starts: list[int]
    steps: int
    metrics: list[Metric]
    amp: str = "off"
    """The networks' precision: off (float32) or bf16."""


@dataclass
class Results:
    """Per grid and row: each metric's values [simulations, steps], and the final step's spectra [simulations, K+1]."""

    values: dict[str, dict[str, dict[str, torch.Tensor]]] = field(default_factory=dict)
    spectra: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    wavenumbers: dict[str, torch.Tensor] = field(default_factory=dict)


def check_window(info: DatasetInfo, starts: list[int], steps: int) -> None:
    """Raise unless every rollout of `steps` steps from every start frame stays within the reference."""
    if not starts or min(starts) < 0 or max(starts) >= info.frames - 1:
        raise FluidlossError(f"--start must be frame indices from 0 to {info.frames - 2} ({info.path} has "
                             f"{info.frames} frames and a rollout needs one after its start), got "
                             f"{', '.join(map(str, starts))}")
    if steps < 1:
        raise FluidlossError(f"--steps must be at least 1, got {steps}")
    if max(starts) + steps > info.frames - 1:
        raise FluidlossError(f"{info.path}: --start {max(starts)} + --steps {steps} needs {max(starts) + steps + 1} "
                             f"frames per simulation, it has {info.frames}")


def labels(paths: list[Path], taken: set[str]) -> list[str]:
    """Row labels of checkpoints: the run directory for best.pt/last.pt, else the file's stem; the path on a clash."""
    names = [p.parent.name if p.stem in ("best", "last") and p.parent.name else p.stem for p in paths]
    names = [str(p) if names.count(n) > 1 or n in taken else n for n, p in zip(names, paths)]
    if len(set(names)) < len(names):
        raise FluidlossError(f"a checkpoint is given twice: {', '.join(map(str, paths))}")
    return names


def fine_grid(coarse: DatasetInfo, fine: Path | None, srs: list[Path], device: torch.device) -> tuple[ComparedGrid | None, int]:
    """The fine grid and its factor over the coarse one, checked to hold the same simulations; None without one."""
    if fine is None:
        if srs:
            raise FluidlossError("--sr needs --fine: the fine reference of the same test simulations")
        return None, 1
    info = DatasetInfo.read(fine, "evaluate")
    return ComparedGrid(info, read_geometry(fine, device)), sr_factor(coarse, info, FACTORS)


def load_upsamplers(base: tuple, srs: dict[str, Path], fine: ComparedGrid | None, factor: int,
                    amp: str = "off") -> dict[str, Callable]:
    """Bicubic and every SR checkpoint, each checked against the coarse setup `base`, the factor and the fields."""
    if fine is None:
        return {}
    upsamplers: dict[str, Callable] = {BICUBIC: partial(upsample_frame, factor=factor)}
    for label, path in srs.items():
        pipeline = Pipeline.build(*base, sr=path, amp=amp)
        model = pipeline.sr
        if model.factor != factor:
            raise FluidlossError(f"{path} upsamples by {model.factor}, but {fine.info.path} is {factor}x finer than "
                                 f"the coarse test data")
        if tuple(model.fields) != fine.info.fields:
            raise FluidlossError(f"{path} predicts {', '.join(model.fields)}, but {fine.info.path} holds "
                                 f"{', '.join(fine.info.fields)}")
        upsamplers[label] = pipeline.upsample
    return upsamplers


def prepare(data: Path, sols: list[Path], fine: Path | None, srs: list[Path], starts: list[int],
            steps: int | None, metrics: str, device: torch.device, solver: str | None = None,
            amp: str = "off") -> Evaluation:
    """Read and check the test data and every checkpoint, each mismatch one clear error, then build the metric
    columns (comma-separated `metrics`; loading perceptual networks takes a while, so it comes last). Each SOL row
    rolls out on its checkpoint's solver; the uncorrected row on `solver`, else the one the SOL checkpoints share,
    else the default. With `amp` bf16 the networks run in bf16 (the solver and the metrics in float32)."""
    coarse = DatasetInfo.read(data, "evaluate")
    fine_info, factor = fine_grid(coarse, fine, srs, device)
    steps = coarse.frames - 1 - max(starts, default=0) if steps is None else steps
    check_window(coarse, starts, steps)
    base = (coarse.scene, coarse.resolution, read_dt(data), device)
    checkpoints = {"sol": dict(zip(labels(sols, {COARSE, REFERENCE}), sols)),
                   "sr": dict(zip(labels(srs, {BICUBIC}), srs))}
    corrected = {label: Pipeline.build(*base, sol=path, solver=solver, amp=amp)
                 for label, path in checkpoints["sol"].items()}
    shared = {pipeline.solver.solver for pipeline in corrected.values()}
    plain = Pipeline.build(*base, solver=solver or (shared.pop() if len(shared) == 1 else None))
    solvers = {plain.solver.solver: plain.solver}  # one solver object per kind: masks and factorisation built once
    corrections = {COARSE: plain} | {label: Pipeline(solvers.setdefault(p.solver.solver, p.solver), p.sol, amp=amp)
                                       for label, p in corrected.items()}
    upsamplers = load_upsamplers(base, checkpoints["sr"], fine_info, factor, amp)
    grids = {COARSE_GRID: ComparedGrid(coarse, read_geometry(data, device))} | ({FINE_GRID: fine_info} if fine_info else {})
    return Evaluation(grids, corrections, upsamplers, checkpoints, starts, steps,
                      build_metrics(metrics, device), amp)


def reference_batch(windows: FrameWindows, start: int, device: torch.device) -> tuple[list[Frame], torch.Tensor]:
    """The reference frames [steps + 1] of every simulation from one start frame, batched, and the Reynolds numbers."""
    items = [windows[windows.index.index((sim, start))] for sim in windows.reynolds]
    frames = [{name: torch.stack([item[name][step] for item in items]).to(device) for name in windows.fields}
              for step in range(windows.window)]
    return frames, torch.stack([item["reynolds"] for item in items]).to(device)


class Recorder:
    """Collects per-step metric values and final spectra of every row over the start frames."""

    def __init__(self, evaluation: Evaluation):
        """Record for the rows, grids and metrics of `evaluation`."""
        self.evaluation = evaluation
        self.values: dict[tuple[str, str, str], list[torch.Tensor]] = defaultdict(list)
        self.spectra: dict[tuple[str, str], list[torch.Tensor]] = defaultdict(list)
        self.wavenumbers: dict[str, torch.Tensor] = {}

    def add(self, grid: str, row: str, frames: list[Frame], refs: list[Frame]) -> None:
        """Measure a rollout's frames (steps 1..N) against the reference frames (0..N) of one grid; the mass balance
        runs from the start frame (refs[0])."""
        geometry, scored = self.evaluation.grids[grid].geometry, self.evaluation.corrections[COARSE].solver.compared
        at = (lambda step: geometry.at(refs[0]["density"], step)) if "density" in refs[0] else (lambda step: geometry)
        per_step = [measure(self.evaluation.metrics, frame, ref, at(step), absolute_only=row == REFERENCE,
                            scored=scored) for step, (frame, ref) in enumerate(zip(frames, refs[1:]), start=1)]
        for name in per_step[0]:
            self.values[grid, row, name].append(torch.stack([step[name] for step in per_step], dim=1))
        final = frames[-1]
        spectrum, self.wavenumbers[grid] = energy_spectrum(final["velocity_x"], final["velocity_y"], geometry.spacing)
        self.spectra[grid, row].append(spectrum.cpu())

    def results(self) -> Results:
        """Every row's values and spectra, averaged over the start frames per simulation."""
        results = Results(wavenumbers=self.wavenumbers)
        for (grid, row, name), runs in self.values.items():
            results.values.setdefault(grid, {}).setdefault(row, {})[name] = torch.stack(runs).mean(dim=0)
        for (grid, row), runs in self.spectra.items():
            results.spectra.setdefault(grid, {})[row] = torch.stack(runs).mean(dim=0)
        return results


def run(evaluation: Evaluation, on_rollout: Callable[[str], None] = lambda label: None) -> Results:
    """Roll out every row from every start frame and measure each step; `on_rollout` hears of each finished row."""
    device, steps = evaluation.corrections[COARSE].solver.device, evaluation.steps
    windows = {name: FrameWindows(grid.info.path, window=steps + 1) for name, grid in evaluation.grids.items()}
    recorder = Recorder(evaluation)
    for start in evaluation.starts:
        batches = {name: reference_batch(w, start, device) for name, w in windows.items()}
        refs, reynolds = {name: frames for name, (frames, _) in batches.items()}, batches[COARSE_GRID][1]
        for name, frames in refs.items():
            recorder.add(name, REFERENCE, frames[1:], frames)
        for label, pipeline in evaluation.corrections.items():
            frames = pipeline.run(refs[COARSE_GRID][0], reynolds, steps)[0]
            recorder.add(COARSE_GRID, label, frames, refs[COARSE_GRID])
            for up_label, upsample in evaluation.upsamplers.items():
                recorder.add(FINE_GRID, f"{label}+{up_label}", [upsample(f) for f in frames], refs[FINE_GRID])
            on_rollout(label)
    return recorder.results()
