"""Frame-wise evaluation of autoencoder and super-resolution checkpoints on test frames, with their baselines.

SR rows (fine grid): `bicubic` (the baseline, always present with a fine set) and each SR checkpoint, the coarse test
frames upsampled and compared with the fine frames of the same time. AE rows: each autoencoder's reconstruction of
the frames of the grid it was trained at; an autoencoder has no baseline, so its compression ratio is reported
beside its errors. `frames_report.py` summarises the values and writes the files.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fluidloss_cli.engine.checkpoints import build_model, checkpoint_of, load_sr
from fluidloss_cli.engine.data.info import DatasetInfo, read_geometry, sr_factor
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.evaluation.rollouts import labels
from fluidloss_cli.engine.fields import Frame, from_grid, to_grid
from fluidloss_cli.engine.metrics import Metric, build_metrics, measure
from fluidloss_cli.engine.models.sr_net import FACTORS
from fluidloss_cli.engine.physics import Geometry, Spacing, energy_spectrum
from fluidloss_cli.engine.pipeline import in_float32, network_precision
from fluidloss_cli.engine.results import BICUBIC, FINE_GRID, REFERENCE
from fluidloss_cli.engine.scenes import same_family
from fluidloss_cli.engine.upsample import upsample_frame

BATCH = 16


@dataclass
class FrameRow:
    """One evaluated row: the grid it is compared on, how it predicts a frame from the coarse and grid frames."""

    grid: str
    predict: Any
    """(coarse frame, grid frame) -> predicted frame on the grid."""
    checkpoint: Path | None = None
    compression_ratio: float | None = None


@dataclass
class FrameEvaluation:
    """A checked frame evaluation: the grids' datasets and geometry, the rows, the frames, the metric columns."""

    infos: dict[str, DatasetInfo]
    geometry: dict[str, Geometry]
    rows: dict[str, FrameRow]
    start: int
    stride: int
    metrics: list[Metric]
    device: torch.device
    amp: str = "off"
    """The networks' precision: off (float32) or bf16 (autocast; the metrics stay float32)."""


def autoencoder(path: Path, infos: dict[str, DatasetInfo], device: torch.device) -> FrameRow:
    """An AE checkpoint as a row on the grid whose dataset matches the one it was trained on (scene or a variant of
    it, resolution, fields), reconstructing that grid's frames."""
    checkpoint = checkpoint_of(path, "ae")
    trained = checkpoint["datasets"]["data"]
    matching = [grid for grid, info in infos.items() if same_family(trained["scene"], info.scene)
                and (list(info.resolution), list(info.fields)) == (list(trained["resolution"]), list(trained["fields"]))]
    if not matching:
        raise FluidlossError(f"{path} reconstructs {trained['scene']} {'x'.join(map(str, trained['resolution']))} "
                             f"({', '.join(trained['fields'])}), which no test dataset given holds")
    grid = matching[-1]
    model = build_model(checkpoint).to(device)
    resolution = infos[grid].resolution

    @torch.no_grad()
    def reconstruct(coarse: Frame, frame: Frame) -> Frame:
        return from_grid(model(to_grid(frame)), resolution, list(frame))

    return FrameRow(grid, reconstruct, path, float(checkpoint["task_info"]["compression_ratio"]))


def super_resolution(path: Path, infos: dict[str, DatasetInfo], factor: int, device: torch.device) -> FrameRow:
    """An SR checkpoint as a fine row, checked against the coarse test set's scene and resolution, the factor and
    the fields."""
    model = load_sr(path, device)
    coarse, fine = infos["data"], infos[FINE_GRID]
    if not same_family(model.scene, coarse.scene) or model.coarse != coarse.resolution:
        raise FluidlossError(f"{path} upsamples {model.scene} at {model.coarse}, not {coarse.scene} at "
                             f"{coarse.resolution} ({coarse.path})")
    if model.factor != factor:
        raise FluidlossError(f"{path} upsamples by {model.factor}, but {fine.path} is {factor}x finer than {coarse.path}")
    if tuple(model.fields) != fine.fields:
        raise FluidlossError(f"{path} predicts {', '.join(model.fields)}, but {fine.path} holds {', '.join(fine.fields)}")
    return FrameRow(FINE_GRID, lambda coarse_frame, frame: model(coarse_frame), path)


def prepare(data: Path, fine: Path | None, aes: list[Path], srs: list[Path], start: int, stride: int, metrics: str,
            device: torch.device, amp: str = "off") -> FrameEvaluation:
    """Read and check the test data and every checkpoint (each mismatch one clear error), then build the metric
    columns (perceptual networks take a while to load, so they come last)."""
    if not aes and not srs and fine is None:
        raise FluidlossError("nothing to evaluate: give --ae or --sr checkpoints (or --fine for the bicubic baseline)")
    if srs and fine is None:
        raise FluidlossError("--sr needs --fine: the fine test set of the same simulations as --data")
    if stride < 1 or start < 0:
        raise FluidlossError(f"--stride must be at least 1 and --start at least 0, got {stride} and {start}")
    infos = {"data": DatasetInfo.read(data, "evaluate")}
    factor = 1
    if fine is not None:
        infos[FINE_GRID] = DatasetInfo.read(fine, "evaluate")
        factor = sr_factor(infos["data"], infos[FINE_GRID], FACTORS)
    if start >= infos["data"].frames:
        raise FluidlossError(f"--start {start}: {data} has {infos['data'].frames} frames per simulation")
    rows: dict[str, FrameRow] = {}
    if fine is not None:
        rows[BICUBIC] = FrameRow(FINE_GRID, lambda coarse, frame: upsample_frame(coarse, factor))
    for label, path in zip(labels(srs, {BICUBIC, REFERENCE}), srs):
        rows[label] = super_resolution(path, infos, factor, device)
    for label, path in zip(labels(aes, set(rows) | {BICUBIC, REFERENCE}), aes):
        rows[label] = autoencoder(path, infos, device)
    geometry = {grid: read_geometry(info.path, device) for grid, info in infos.items()}
    return FrameEvaluation(infos, geometry, rows, start, stride, build_metrics(metrics, device), device, amp)


def batches(evaluation: FrameEvaluation) -> Any:
    """(simulation, frame indices, coarse frame, {grid: frame}, {grid: geometry}) per batch of the chosen test
    frames; the geometry's mass balance runs from the simulation's first stored frame."""
    windows = {grid: FrameWindows(info.path, window=1) for grid, info in evaluation.infos.items()}
    chosen = defaultdict(list)
    for item, (sim, frame) in enumerate(windows["data"].index):
        if frame >= evaluation.start and (frame - evaluation.start) % evaluation.stride == 0:
            chosen[sim].append(item)
    for sim, items in chosen.items():
        for begin in range(0, len(items), BATCH):
            part = items[begin:begin + BATCH]
            frames = {grid: {name: torch.stack([w[i][name][0] for i in part]).to(evaluation.device)
                             for name in w.fields} for grid, w in windows.items()}
            indices = [windows["data"].index[i][1] for i in part]
            geometry = {grid: evaluation.geometry[grid].at(w[w.index.index((sim, 0))]["density"].to(evaluation.device),
                                                           torch.tensor(indices))
                        if "density" in w.fields else evaluation.geometry[grid] for grid, w in windows.items()}
            yield sim, indices, frames["data"], frames, geometry


class Spectra:
    """Mean kinetic-energy spectra over the evaluated frames, per row: of its prediction (`energy`) and of its error
    against the reference (`error`: at which scales the error lies, e.g. the fine detail SR must invent); the
    reference's own per grid (`GRID/reference`, energy only)."""

    def __init__(self) -> None:
        self.sums: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
        self.frames: dict[str, int] = defaultdict(int)
        self.grids: dict[str, str] = {}
        self.wavenumbers: dict[str, torch.Tensor] = {}

    def add(self, row: str, grid: str, pred: Frame, ref: Frame, spacing: Spacing) -> None:
        """Add a batch of predicted frames of `row` on `grid` (the reference itself where `row` is one)."""
        parts = {"energy": (pred["velocity_x"], pred["velocity_y"])}
        if not row.endswith(REFERENCE):
            parts["error"] = (pred["velocity_x"] - ref["velocity_x"], pred["velocity_y"] - ref["velocity_y"])
        for name, (vx, vy) in parts.items():
            spectrum, self.wavenumbers[grid] = energy_spectrum(vx, vy, spacing)
            total = self.sums[row].get(name)
            self.sums[row][name] = spectrum.sum(dim=0) if total is None else total + spectrum.sum(dim=0)
        self.frames[row] += len(pred["velocity_x"])
        self.grids[row] = grid

    def to_json(self) -> dict[str, Any]:
        """{"wavenumbers": {grid: [K+1]}, "rows": {row: {"grid", "energy": [K+1], "error": [K+1] or None}}}."""
        return {"wavenumbers": {grid: k.tolist() for grid, k in self.wavenumbers.items()},
                "rows": {row: {"grid": self.grids[row], "energy": (sums["energy"] / self.frames[row]).tolist(),
                               "error": (sums["error"] / self.frames[row]).tolist() if "error" in sums else None}
                         for row, sums in self.sums.items()}}


def run(evaluation: FrameEvaluation, progress: Callable[[int, int], None] | None = None,
        ) -> tuple[dict[str, dict[str, dict[str, list[list[float]]]]], dict[str, np.ndarray], Spectra]:
    """Every row's metric values per simulation and frame ({row: {metric: [simulation][frame]}}, the reference's
    absolute measures included), an example: the middle chosen frame of the first simulation, every row's
    prediction and the references, and the rows' mean spectra. `progress(frames done, frames in all)` follows each
    batch of frames."""
    values: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    spectra = Spectra()
    all_batches = list(batches(evaluation))
    example_sim = all_batches[0][0]
    example_frames = [f for sim, frames, *_ in all_batches if sim == example_sim for f in frames]
    wanted = example_frames[len(example_frames) // 2]
    example: dict[str, np.ndarray] = {}
    total, done = sum(len(frames) for _, frames, *_ in all_batches), 0
    for sim, frames, coarse, grids, geometry in all_batches:
        at = frames.index(wanted) if sim == example_sim and wanted in frames else None
        predictions = {REFERENCE + "_" + grid: (grid, frame) for grid, frame in grids.items()}
        with network_precision(evaluation.device, evaluation.amp):
            predicted = {label: row.predict(coarse, grids[row.grid]) for label, row in evaluation.rows.items()}
        predictions |= {label: (evaluation.rows[label].grid, in_float32(pred)) for label, pred in predicted.items()}
        for label, (grid, pred) in predictions.items():
            row = REFERENCE if label.startswith(REFERENCE + "_") else label
            measured = measure(evaluation.metrics, pred, grids[grid], geometry[grid],
                               absolute_only=row == REFERENCE)
            named = f"{grid}/{row}" if row == REFERENCE else row
            for name, per_sample in measured.items():
                values[named][name][sim].extend(per_sample.tolist())
            spectra.add(named, grid, pred, grids[grid], geometry[grid].spacing)
            if at is not None:
                example |= {f"{label}/{field}": value[at].float().cpu().numpy() for field, value in pred.items()}
        done += len(frames)
        if progress is not None:
            progress(done, total)
    example["frame"], example["simulation"] = np.array(wanted), np.array(example_sim)
    return ({row: {name: list(sims.values()) for name, sims in metrics.items()} for row, metrics in values.items()},
            example, spectra)
