"""The plain solver's error-versus-cost frontier (Kochkov et al. 2021): where a learned pipeline stands against
simply running the plain solver on a somewhat finer grid.

`benchmark --frontier` rolls the plain solver out at resolutions between the coarse and the fine grid, from the
fine start frame resampled onto each (`resample_frame`, flux-weighted like `fluidloss downsample`, and exactly it
for whole factors), scores them like the other rows and places every learned row on that curve:
`equal_accuracy` interpolates, log-log, the plain solver's cost at the learned row's error and reports its ratio
to the learned row's cost. An error outside the measured range is reported as such, with the bounds the
measurements do give, never extrapolated.
"""

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.resolution import Resolution

FRONTIER_METRICS = ("mse", "lsim")
"""The errors a learned row is placed on the frontier by (each where it is among the benchmark's metrics)."""

INTERPOLATED, ABOVE, BELOW, NOT_FINITE = "interpolated", "above the frontier", "below the frontier", "not finite"


def check_frontier(resolutions: Sequence[Resolution], coarse: Resolution, fine: Resolution) -> list[Resolution]:
    """The frontier's resolutions sorted by size: each strictly between `coarse` and `fine` along both axes, with
    the fine grid's aspect (the cells keep their shape), none repeated."""
    for resolution in resolutions:
        if not (coarse.height < resolution.height < fine.height and coarse.width < resolution.width < fine.width):
            raise FluidlossError(f"--frontier {resolution} does not lie between the coarse {coarse} and the fine "
                                 f"{fine} grid along both axes")
        if resolution.height * fine.width != resolution.width * fine.height:
            raise FluidlossError(f"--frontier {resolution} does not keep the fine grid's aspect ({fine}): its cells "
                                 "would change shape")
    if len(set(resolutions)) != len(resolutions):
        raise FluidlossError(f"--frontier names a resolution more than once: {', '.join(map(str, resolutions))}")
    return sorted(resolutions, key=lambda r: r.cells)


def average_weights(fine: int, coarse: int) -> torch.Tensor:
    """[coarse, fine]: the fraction of each coarse cell that each fine cell covers along one axis (rows sum to 1)."""
    ratio = fine / coarse
    lower = torch.arange(coarse, dtype=torch.float64)[:, None] * ratio
    cells = torch.arange(fine, dtype=torch.float64)[None]
    overlap = (torch.minimum(lower + ratio, cells + 1) - torch.maximum(lower, cells)).clamp(min=0)
    return overlap / ratio


def line_weights(fine: int, coarse: int) -> torch.Tensor:
    """[coarse + 1, fine + 1]: linear interpolation of the fine grid lines (cell edges) at the coarse ones."""
    position = torch.arange(coarse + 1, dtype=torch.float64) * fine / coarse
    below = position.floor().clamp(max=fine - 1).long()
    weight = position - below
    lines = torch.zeros(coarse + 1, fine + 1, dtype=torch.float64)
    rows = torch.arange(coarse + 1)
    lines[rows, below] = 1 - weight
    lines[rows, below + 1] += weight
    return lines


def resample_frame(frame: Frame, target: Resolution) -> Frame:
    """A fine frame (velocity faces, cell fields; [B, ...]) on a coarser grid of any size: a coarse face's velocity
    is the fine faces' average over its extent along the face, linearly interpolated between fine face lines across
    it; a cell value is the area average. For whole factors this is `fluidloss downsample`'s flux-conserving
    coarsening exactly; otherwise the start is divergence-free to the interpolation's error, which the solver's
    first pressure projection removes."""
    height, width = frame["velocity_x"].shape[-2], frame["velocity_x"].shape[-1] - 1
    rows, columns = average_weights(height, target.height), average_weights(width, target.width)
    row_lines, column_lines = line_weights(height, target.height), line_weights(width, target.width)
    weights = {"velocity_x": (rows, column_lines), "velocity_y": (row_lines, columns)}
    resampled = {}
    for name, values in frame.items():
        left, right = weights.get(name, (rows, columns))
        resampled[name] = (left @ values.double() @ right.T).to(values.dtype)
    return resampled


@dataclass(frozen=True)
class EqualAccuracy:
    """A learned row on the frontier of one metric: the plain solver's cost at the row's error and the ratio."""

    variant: str
    metric: str
    error: float
    ms_per_frame: float
    status: str
    """INTERPOLATED, ABOVE (less accurate than the cheapest plain row), BELOW (more accurate than every plain row)
    or NOT_FINITE."""
    plain_ms_per_frame: float | None = None
    """The interpolated cost of the plain solver at `error` (INTERPOLATED only)."""
    speed_up: float | None = None
    """plain_ms_per_frame / ms_per_frame (INTERPOLATED only)."""
    bounds: tuple[float | None, float | None] = (None, None)
    """(lowest, highest) speed-up the measurements allow outside the frontier's range: ABOVE has only a highest (the
    cheapest plain row's cost is already as accurate), BELOW lies between the most expensive plain row's cost and
    the fine simulation's (which is the reference) over the learned row's."""

    def describe(self) -> str:
        """One cell of the speed-up table: the ratio, or where the row lies and the bounds known."""
        if self.status == INTERPOLATED:
            return f"{self.speed_up:.2f}x"
        low, high = self.bounds
        if self.status == ABOVE:
            return "above: <= " + (f"{high:.2f}x" if high is not None else "?")
        if self.status == BELOW:
            return f"below: >= {low:.2f}x" + (f", <= {high:.2f}x" if high is not None else "")
        return self.status


def equal_accuracy(variant: str, metric: str, error: float, ms: float, frontier: Sequence[tuple[float, float]],
                   fine_ms: float | None = None) -> EqualAccuracy:
    """Place a learned row (mean `error`, `ms` per frame) on the plain solver's frontier: (ms per frame, error)
    points in order of resolution, the coarse grid first. The plain cost at `error` is interpolated linearly in
    log(ms) against log(error) on the first segment, along increasing resolution, that reaches `error`; an error
    above the coarsest point's or below every point's is not interpolated (`bounds` say what is known;
    `fine_ms`, the fine simulation's cost, bounds a BELOW row from above)."""
    row = dict(variant=variant, metric=metric, error=error, ms_per_frame=ms)
    values = [error, ms, *(v for point in frontier for v in point)]
    if not all(math.isfinite(v) and v > 0 for v in values):
        return EqualAccuracy(**row, status=NOT_FINITE)
    (first_ms, first_error) = frontier[0]
    if error > first_error:
        return EqualAccuracy(**row, status=ABOVE, bounds=(None, first_ms / ms))
    for (ms_a, error_a), (ms_b, error_b) in zip(frontier, frontier[1:]):
        if min(error_a, error_b) <= error <= max(error_a, error_b):
            if error_a == error_b:
                plain = ms_a
            else:
                share = (math.log(error) - math.log(error_a)) / (math.log(error_b) - math.log(error_a))
                plain = math.exp(math.log(ms_a) + share * (math.log(ms_b) - math.log(ms_a)))
            return EqualAccuracy(**row, status=INTERPOLATED, plain_ms_per_frame=plain, speed_up=plain / ms)
    if error == first_error:  # a frontier of one point
        return EqualAccuracy(**row, status=INTERPOLATED, plain_ms_per_frame=first_ms, speed_up=first_ms / ms)
    highest = fine_ms / ms if fine_ms is not None and math.isfinite(fine_ms) else None
    return EqualAccuracy(**row, status=BELOW, bounds=(max(p[0] for p in frontier) / ms, highest))


def frontier_chart(frontier: Sequence[tuple[str, float, dict[str, float | str]]],
                   learned: Sequence[tuple[str, float, dict[str, float | str]]], metrics: Sequence[str],
                   fine: tuple[str, float], title: str) -> bytes:
    """A PNG: one log-log panel per metric, error against ms per frame, the plain solver's frontier as a line
    through its (name, ms, errors) rows, the learned rows as points, the fine simulation's cost as a vertical line
    (its error is zero by construction: it is the reference)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    figure = Figure(figsize=(5.2 * len(metrics), 4.2), layout="constrained")
    for k, metric in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), k + 1)
        points = [(ms, errors[metric], name) for name, ms, errors in frontier
                  if isinstance(errors.get(metric), float) and errors[metric] > 0]
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], "o-", color="0.3", label="plain solver")
            for ms, error, name in points:
                axes.annotate(name, (ms, error), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for (name, ms, errors), marker in zip(learned, "s^Dv<>"):
            if isinstance(errors.get(metric), float) and errors[metric] > 0:
                axes.plot([ms], [errors[metric]], marker, markersize=8, linestyle="none", label=name)
        axes.axvline(fine[1], color="0.6", linestyle=":", label=f"{fine[0]} (the reference)")
        axes.set(xscale="log", yscale="log", xlabel="ms per frame", ylabel=f"{metric} against the fine simulation")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # plain numbers: 2, 5, 10, 20, 50 ...
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()
