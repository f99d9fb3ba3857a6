"""Images of rollouts with matplotlib: velocity magnitude, vorticity or density of stored fields, one panel per
variant side by side (e.g. coarse | coarse+SOL | coarse+SOL+SR | reference), as a GIF, an MP4 or a folder of PNGs.

Every panel covers the domain in domain units and shows its own grid cell by cell (`nearest`), so panels of
different resolutions line up. Velocity and vorticity come from engine/physics, as the metrics compute them: speed
at cell centres, vorticity at the interior cell corners (half a cell in from each side). One colour map, colour range and colour bar serve every panel and frame: the range
is the 99.5th percentile of |value| over all of them (vorticity symmetric about zero), so a few extreme cells do not
wash the rest out; the bar's arrows mark clipped values. The obstacle is drawn in grey.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.animation import FFMpegWriter, PillowWriter
from matplotlib.figure import Figure

from fluidloss_cli.engine.atomic import atomic_path, check_writable_dir, refuse_existing, write_error
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.physics import cell_velocity
from fluidloss_cli.engine.physics import vorticity as physics_vorticity

Fields = dict[str, np.ndarray]
"""Stored fields of a run of frames: velocity_x [F, H, W+1], velocity_y [F, H+1, W], density [F, H, W]."""

FPS = 10
DPI = 100
PANEL_INCHES = 3.0  # the longer side of a panel
PERCENTILE = 99.5
FRAME_PATTERN = "frame_{:04d}.png"


def velocity(fields: Fields) -> tuple[torch.Tensor, torch.Tensor]:
    """The stored staggered velocity (vx, vy) as tensors, for the measures of engine/physics."""
    return torch.tensor(fields["velocity_x"]), torch.tensor(fields["velocity_y"])


def speed(fields: Fields, spacing: tuple[float, float]) -> np.ndarray:
    """|u| at cell centres [F, H, W], from physics.cell_velocity (the mean of a cell's two faces per axis)."""
    return torch.hypot(*cell_velocity(*velocity(fields))).numpy()


def vorticity(fields: Fields, spacing: tuple[float, float]) -> np.ndarray:
    """dv/dx - du/dy at the interior cell corners [F, H-1, W-1], from physics.vorticity: the field the vorticity
    metric compares, so a render and a metric agree."""
    return physics_vorticity(*velocity(fields), spacing).numpy()


def density(fields: Fields, spacing: tuple[float, float]) -> np.ndarray:
    """The stored cell density."""
    return fields["density"]


@dataclass(frozen=True)
class Quantity:
    """What a render shows: how to compute it from stored fields, and how to colour it."""

    label: str
    colours: str
    symmetric: bool
    needs: str
    compute: Callable[[Fields, tuple[float, float]], np.ndarray]


QUANTITIES = {
    "velocity": Quantity("velocity magnitude |u|", "viridis", False, "velocity_x", speed),
    "vorticity": Quantity("vorticity ∂v/∂x − ∂u/∂y", "RdBu_r", True, "velocity_x", vorticity),
    "density": Quantity("density", "inferno", False, "density", density),
}


@dataclass(frozen=True)
class Panel:
    """One variant's frames with a title, and its obstacle mask [H, W] at its own resolution."""

    title: str
    fields: Fields
    obstacle: np.ndarray


def quantity(name: str, fields: Sequence[str]) -> Quantity:
    """The quantity `name`, checked against the fields a scene stores."""
    if name not in QUANTITIES:
        raise FluidlossError(f"--quantity {name!r}: choose one of {', '.join(QUANTITIES)}")
    if QUANTITIES[name].needs not in fields:
        raise FluidlossError(f"--quantity {name}: the scene stores no {QUANTITIES[name].needs}")
    return QUANTITIES[name]


def render_kind(path: Path) -> str:
    """`gif`, `mp4`, or `png` for a folder (an existing one, or a path without suffix)."""
    if path.is_dir() or not path.suffix:
        return "png"
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("gif", "mp4"):
        raise FluidlossError(f"--render {path}: expected FILE.gif, FILE.mp4 or a folder for PNG frames")
    return kind


def check_target(path: Path, overwrite: bool) -> None:
    """Fail before any work when `path` cannot take a render: taken, in a missing folder, or MP4 without ffmpeg."""
    kind = render_kind(path)
    if kind == "mp4" and not FFMpegWriter.isAvailable():
        raise FluidlossError(f"--render {path}: MP4 needs ffmpeg, which is not installed; use FILE.gif or a folder")
    if kind == "png" and path.exists() and not path.is_dir():
        raise FluidlossError(f"--render {path}: is a file, not a folder")
    if kind == "png" and path.is_dir():
        check_writable_dir(path, path)  # the frames go into it
    else:
        check_writable_dir(path.parent, path)  # the file, or the folder that is created, goes into it
    taken = any(path.glob("frame_*.png")) if kind == "png" and path.exists() else path.exists()
    if taken and not overwrite:
        taken_as = "holds PNG frames" if kind == "png" else "exists"
        refuse_existing(path, taken_as)


def on_grid(values: np.ndarray, obstacle: np.ndarray, domain_size: tuple[float, float]) \
        -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Values [F, h, w] with obstacle cells blanked (NaN), and where they lie in the domain (left, right, bottom,
    top): the cells [H, W] cover it; the interior corners [H-1, W-1] (vorticity) lie half a cell in from each side,
    a corner blanked when one of its four cells is solid."""
    height, width = domain_size
    rows, columns = obstacle.shape
    if values.shape[-2:] == obstacle.shape:
        return np.where(obstacle >= 0.5, np.nan, values), (0.0, width, 0.0, height)
    solid = F.max_pool2d(torch.from_numpy((obstacle >= 0.5).astype(np.float32))[None], 2, stride=1)[0].numpy()
    dy, dx = height / rows, width / columns
    return np.where(solid > 0, np.nan, values), (dx / 2, width - dx / 2, dy / 2, height - dy / 2)


def colour_range(values: Sequence[np.ndarray], symmetric: bool) -> tuple[float, float]:
    """(low, high) shared by every panel and frame: 0 or -high to the 99.5th percentile of |value|."""
    pooled = np.concatenate([np.abs(v).ravel() for v in values])
    high = float(np.nanpercentile(pooled, PERCENTILE)) if np.isfinite(pooled).any() else 0.0
    high = high if high > 0 else 1.0
    return (-high if symmetric else 0.0), high


def panel_size(domain_size: tuple[float, float]) -> tuple[float, float]:
    """(width, height) in inches of a panel with the domain's aspect ratio."""
    height, width = domain_size
    scale = PANEL_INCHES / max(height, width)
    return width * scale, height * scale


@contextmanager
def frame_sink(figure: Figure, out: Path, kind: str) -> Iterator[Callable[[int], None]]:
    """A function that saves the figure as frame n of `out`; GIF and MP4 appear under their name only when complete,
    and PNG frames are removed again when a frame fails (a full disk), so a render is never half there."""
    if kind == "png":
        out.mkdir(exist_ok=True)
        for old in out.glob("frame_*.png"):
            old.unlink()
        try:
            yield lambda n: figure.savefig(out / FRAME_PATTERN.format(n), dpi=DPI)
        except BaseException:
            for partial in out.glob("frame_*.png"):
                partial.unlink()
            raise
        return
    writer = PillowWriter(fps=FPS) if kind == "gif" else FFMpegWriter(fps=FPS)
    with atomic_path(out, keep_suffix=True) as tmp:  # the writers choose the format by the suffix
        with writer.saving(figure, str(tmp), DPI):
            yield lambda n: writer.grab_frame()


def render(panels: Sequence[Panel], what: Quantity, domain_size: tuple[float, float], heading: Callable[[int], str],
           out: Path, progress: Callable[[int, int], None] = lambda done, total: None) -> int:
    """Draw every frame of the panels side by side into `out` (GIF, MP4 or PNG folder); returns the frame count."""
    height, width = domain_size
    values = [what.compute(p.fields, (height / p.obstacle.shape[0], width / p.obstacle.shape[1])) for p in panels]
    placed = [on_grid(v, p.obstacle, domain_size) for p, v in zip(panels, values)]
    values = [v for v, _ in placed]
    low, high = colour_range(values, what.symmetric)
    panel_w, panel_h = panel_size(domain_size)
    figure = Figure(figsize=(len(panels) * (panel_w + 0.4) + 1.5, panel_h + 1.3), layout="constrained")
    axes = figure.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    colours = matplotlib.colormaps[what.colours].with_extremes(bad="0.7")
    images = []
    for ax, panel, frames, (_, extent) in zip(axes, panels, values, placed):
        images.append(ax.imshow(frames[0], origin="lower", extent=extent, cmap=colours, vmin=low, vmax=high,
                                interpolation="nearest"))
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    figure.colorbar(images[0], ax=list(axes), label=what.label, extend="both" if what.symmetric else "max")
    title = figure.suptitle(heading(0))
    for _ in range(2):  # constrained layout settles in its second pass (the first has no text extents yet)
        figure.draw_without_rendering()
    figure.set_layout_engine("none")  # then freeze it: every frame has the same geometry and draws faster
    count = len(values[0])
    try:
        with frame_sink(figure, out, render_kind(out)) as save:
            for n in range(count):
                for image, frames in zip(images, values):
                    image.set_data(frames[n])
                title.set_text(heading(n))
                save(n)
                progress(n + 1, count)
    except OSError as exc:  # a full disk, in the image writers
        raise write_error(out, exc) from exc
    return count
