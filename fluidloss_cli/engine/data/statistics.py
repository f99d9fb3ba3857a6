"""The spread of a dataset's fields and Reynolds numbers: the scales of SOL's `--normalize`, as the PBDL book's
Solver-in-the-Loop notebook uses them (network inputs divided by the training data's standard deviation, the
network's output multiplied by it, the loss computed on velocity in those units)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluidloss_cli.engine.data.schema import open_dataset, read_frames, simulation_groups
from fluidloss_cli.engine.errors import FluidlossError


@dataclass(frozen=True)
class FieldScales:
    """The standard deviation of each stored field over every frame of every simulation, and of the simulations'
    Reynolds numbers (None for a scene without one)."""

    fields: dict[str, float]
    reynolds: float | None

    @classmethod
    def read(cls, path: Path, fields: tuple[str, ...] | list[str]) -> "FieldScales":
        """Measure `fields` of the dataset at `path` in float64, one simulation at a time. A spread of zero (a
        constant field, a single Reynolds number) cannot scale anything: the field's mean magnitude stands in, and
        1 where that is zero too."""
        sums = {name: np.zeros(3) for name in fields}  # count, sum, sum of squares
        reynolds = []
        with open_dataset(path) as handle:
            for group in simulation_groups(handle):
                for name in fields:
                    values = read_frames(group[name], 0, group[name].shape[0]).astype(np.float64)
                    sums[name] += (values.size, values.sum(), np.square(values).sum())
                reynolds.append(float(group.attrs.get("reynolds", np.nan)))
        if not reynolds:
            raise FluidlossError(f"{path}: holds no simulations to measure")
        scales = {name: _scale(count and total / count, count and squares / count)
                  for name, (count, total, squares) in sums.items()}
        known = np.array([r for r in reynolds if not np.isnan(r)])
        return cls(scales, _scale(known.mean(), np.square(known).mean()) if known.size else None)


def _scale(mean: float, mean_square: float) -> float:
    """The standard deviation from the first two moments; the root mean square where the spread is below a millionth
    of it (a constant, up to the rounding of the moments); 1 where that is zero too."""
    rms, std = np.sqrt(mean_square), np.sqrt(max(mean_square - mean * mean, 0.0))
    return float(std if std > 1e-6 * rms else rms if rms > 0 else 1.0)
