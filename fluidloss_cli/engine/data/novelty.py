"""How far each simulation of a test dataset lies from a training dataset of the same scene and grid: the nearest
training trajectory (frame-aligned), the nearest training frame (any simulation, any time: catches phase-shifted
copies) and the test trajectory's own mean square for scale. Held-out seeds and Reynolds numbers test generalisation
only if these distances are well above zero.

Distances are the evaluation's MSE (`field_loss` of the `mse` loss over the fields a rollout is scored on: velocity
as F(X, X') + F(Y, Y'), plus density where it is not a passive marker, i.e. for buoyancy): each field is flattened and scaled by 1 / sqrt(the size of the group
`field_loss` averages it in), so a squared Euclidean distance of two scaled frames is exactly that MSE.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fluidloss_cli.engine.data.info import DatasetInfo, check_like
from fluidloss_cli.engine.data.schema import field_shape, open_dataset, read_frames
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.scenes import scene_class

SEARCHED_FRAMES = 100
"""Without a stride, the nearest-frame search takes about this many frames of each test trajectory."""
CHUNK = 256
"""Training frames compared with the test frames at once."""


@dataclass(frozen=True)
class Novelty:
    """One test simulation against the training data; distances are MSEs, `energy` its MSE against zero."""

    simulation: str
    reynolds: float | None
    seed: int
    energy: float
    nearest_trajectory: float
    """Min over the training simulations of the mean over the frames both have of the frame-aligned MSE."""
    nearest_simulation: str
    nearest_reynolds: float | None
    nearest_seed: int
    nearest_frame: float
    """Mean over the searched test frames of the MSE to the nearest training frame of any simulation and time."""
    stride: int


def scored_fields(info: DatasetInfo) -> list[str]:
    """The stored fields a rollout is scored on: all but the scene's passive ones (Karman's marker), as
    `Scene.scored_fields` decides."""
    scored = scene_class(info.scene).scored_fields()
    return [name for name in info.fields if name in scored]


def flat_frames(info: DatasetInfo, simulation: str) -> torch.Tensor:
    """Every frame of a simulation as one scaled float64 row [F, D] of its scored fields (see the module docstring)."""
    fields = scored_fields(info)
    shapes = [field_shape(name, info.resolution) for name in fields]
    with open_dataset(info.path) as handle:
        group = handle[simulation]
        parts = [torch.from_numpy(read_frames(group[name])).double().flatten(start_dim=1)
                 / np.sqrt(shapes.count(shape) * np.prod(shape)) for name, shape in zip(fields, shapes)]
    return torch.cat(parts, dim=1)


def nearest_frames(test: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """Per test frame [T, D], the squared distance to its nearest training frame [N, D]: the nearest found by the
    expanded product (fast), its distance then computed directly (exact, 0 for a copy)."""
    best = torch.full((len(test),), torch.inf, dtype=torch.float64)
    index = torch.zeros(len(test), dtype=torch.long)
    norms = test.square().sum(dim=1)
    for begin in range(0, len(train), CHUNK):
        chunk = train[begin:begin + CHUNK]
        distances = norms[:, None] + chunk.square().sum(dim=1)[None] - 2 * test @ chunk.T
        value, found = distances.min(dim=1)
        better = value < best
        best, index = torch.where(better, value, best), torch.where(better, found + begin, index)
    return (test - train[index]).square().sum(dim=1)


def novelty(test_path: Path, train_path: Path, stride: int | None = None) -> list[Novelty]:
    """Each test simulation's distances to the training data, or one line when the two datasets do not match (scene
    or a variant of it, resolution, fields); `stride`: every stride-th test frame is searched for its nearest training frame (default:
    about `SEARCHED_FRAMES` frames)."""
    test, train = DatasetInfo.read(test_path, "evaluate"), DatasetInfo.read(train_path, "evaluate")
    check_like(train, test, variants=True)
    if stride is not None and stride < 1:
        raise FluidlossError(f"the nearest-frame stride must be at least 1, got {stride}")
    stride = stride or max(1, test.frames // SEARCHED_FRAMES)
    trained = {sim: flat_frames(train, sim) for sim, _, _ in train.simulations}
    every_frame = torch.cat(list(trained.values()))
    about = {sim: (reynolds, seed) for sim, reynolds, seed in train.simulations}
    found = []
    for sim, reynolds, seed in test.simulations:
        frames = flat_frames(test, sim)
        aligned = {name: (frames[:len(other)] - other[:len(frames)]).square().sum(dim=1).mean().item()
                   for name, other in trained.items()}
        nearest = min(aligned, key=aligned.get)
        found.append(Novelty(sim, reynolds, seed, frames.square().sum(dim=1).mean().item(), aligned[nearest], nearest,
                             *about[nearest], nearest_frames(frames[::stride], every_frame).mean().item(), stride))
    return found


def as_records(found: list[Novelty], errors: dict[str, float | None]) -> list[dict]:
    """The distances as JSON-ready records, each with its simulation's uncorrected coarse error (None: unknown)."""
    return [{**asdict(item), "coarse_error": errors.get(item.simulation)} for item in found]


HEADER = ["test simulation", "Re", "seed", "coarse error", "nearest training trajectory", "nearest training frame",
          "energy"]
"""Columns of the table of `rows`."""


def number(value: float | None) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3g}"


def relative(value: float, energy: float) -> str:
    """A distance and its share of the test trajectory's energy."""
    return f"{number(value)} ({100 * value / energy:.2g}%)" if energy > 0 else number(value)


def rows(records: list[dict]) -> list[list[str]]:
    """Table cells of `as_records`: a row per test simulation, the nearest trajectory with the training simulation
    it belongs to, and each distance also relative to the test trajectory's energy."""
    cells = []
    for record in records:
        which = f"{record['nearest_simulation']}, " + (f"Re {number(record['nearest_reynolds'])}, "
                                                       if record["nearest_reynolds"] is not None else "")
        trajectory = relative(record["nearest_trajectory"], record["energy"])
        cells.append([record["simulation"], number(record["reynolds"]), str(record["seed"]),
                      number(record["coarse_error"]), f"{trajectory} ({which}seed {record['nearest_seed']})",
                      relative(record["nearest_frame"], record["energy"]), number(record["energy"])])
    return cells


ABOUT = ("Distances are the evaluation's MSE over the scored fields (Karman: velocity; buoyancy: velocity and density); a nearest training trajectory is compared frame "
         "by frame over the frames both have; a nearest training frame is searched among every frame of every "
         "training simulation for every stride-th test frame, its distance averaged over them. Percentages are of "
         "the test trajectory's energy (its mean square, the MSE against zero); the coarse error is the uncorrected "
         "coarse solver's mean rollout MSE.")
"""How to read the table, for the report and the console."""
