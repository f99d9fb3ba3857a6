"""The spread of a dataset's fields and Reynolds numbers: the scales of SOL's `--normalize`, as the PBDL book's
Solver-in-the-Loop notebook uses them (network inputs divided by the training data's standard deviation, the
network's output multiplied by it, the loss computed on velocity in those units)."""

from dataclasses import dataclass

import numpy as np

from fluidloss_cli.engine.data.info import DatasetInfo
from fluidloss_cli.engine.data.schema import open_dataset, read_frames


@dataclass(frozen=True)
class FieldScales:
    """The standard deviation of each stored field over every frame of every simulation, and of the simulations'
    Reynolds numbers (None for a scene without one)."""

    fields: dict[str, float]
    reynolds: float | None

    @classmethod
    def read(cls, info: DatasetInfo) -> "FieldScales":
        """Measure the fields of the dataset `info` describes in float64, one simulation at a time; its Reynolds
        numbers come from `info`. A spread of zero (a constant field, a single Reynolds number) cannot scale anything:
        the root mean square stands in, and 1 where that is zero too."""
        sums = {name: np.zeros(3) for name in info.fields}  # count, sum, sum of squares
        with open_dataset(info.path) as handle:
            for sim, _, _ in info.simulations:
                for name in info.fields:
                    values = read_frames(handle[sim][name]).astype(np.float64)
                    sums[name] += (values.size, values.sum(), np.square(values).sum())
        scales = {name: _scale(total / count, squares / count) for name, (count, total, squares) in sums.items()}
        known = np.array([re for _, re, _ in info.simulations if re is not None])
        return cls(scales, _scale(known.mean(), np.square(known).mean()) if known.size else None)


def _scale(mean: float, mean_square: float) -> float:
    """The standard deviation from the first two moments; the root mean square where the spread is below a millionth
    of it (a constant, up to the rounding of the moments); 1 where that is zero too."""
    rms, std = np.sqrt(mean_square), np.sqrt(max(mean_square - mean * mean, 0.0))
    return float(std if std > 1e-6 * rms else rms if rms > 0 else 1.0)
