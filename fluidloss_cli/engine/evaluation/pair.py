"""Metrics of one pair of inputs A (the reference) and B: two dataset frames, or two images / arrays.

Dataset frames (`FILE.h5:SIM:FRAME`) are compared field by field exactly as `evaluate rollout` compares a row with
its reference, physical measures included. Images (.png) and arrays (.npy, [H, W] or [H, W, C]) are compared as
images: `lsim` is the official LSiM `computeDistance` (`lsim_distance`), other registry losses treat each channel as
a field and sum over the channels.
"""

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from fluidloss_cli.engine.correction import Frame
from fluidloss_cli.engine.data.info import read_geometry
from fluidloss_cli.engine.data.schema import sim_name
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import lsim_distance
from fluidloss_cli.engine.metrics import MEASURES, Metric, build_metrics, measure
from fluidloss_cli.engine.physics import Geometry

FRAME_SPEC = re.compile(r"^(?P<path>.+\.h5):(?P<sim>[^:]+):(?P<frame>\d+)$")
INPUTS = "FILE.h5:SIM:FRAME (SIM as sim_0000 or 0), FILE.npy or FILE.png"


def read_frame(path: Path, sim: str, index: int, device: torch.device) -> tuple[Frame, Geometry]:
    """One stored frame as a batch of one [1, ...] on `device`, and the dataset's geometry (its mass balance from
    the simulation's first stored frame)."""
    name = sim_name(int(sim)) if sim.isdigit() else sim
    windows = FrameWindows(path, window=1, simulations=[name])
    if index >= len(windows):
        raise FluidlossError(f"{path}: {name} has {len(windows)} frames, no frame {index}")
    item = windows[index]
    geometry = read_geometry(path, device)
    if "density" in windows.fields:
        geometry = geometry.at(windows[0]["density"].to(device), index)
    return {field: item[field].to(device) for field in windows.fields}, geometry


def read_image(path: Path) -> np.ndarray:
    """An image or array file as float values [H, W, C]; a PNG's alpha channel is dropped."""
    if not path.is_file():
        raise FluidlossError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as image:
                values = np.array(image)
                values = values[..., :3] if values.ndim == 3 else values
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise FluidlossError(f"{path}: not a readable {path.suffix} file ({exc})") from None
    values = values[..., None] if values.ndim == 2 else values
    if values.ndim != 3 or not np.issubdtype(values.dtype, np.number):
        raise FluidlossError(f"{path}: expected a numeric array [H, W] or [H, W, C], got {values.dtype} "
                             f"{list(values.shape)}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():  # as a dataset frame with NaN/inf is refused: any metric of it is meaningless
        bad = np.argwhere(~np.isfinite(values))[0]
        raise FluidlossError(f"{path}: holds {values[tuple(bad)]} at {list(map(int, bad))} "
                             f"({int((~np.isfinite(values)).sum())} NaN/inf values); metrics need finite values")
    return values


def read_input(spec: str, device: torch.device) -> tuple[Frame, Geometry] | np.ndarray:
    """A dataset frame (with its geometry) or an image array, as the spec says."""
    match = FRAME_SPEC.match(spec)
    if match:
        return read_frame(Path(match["path"]), match["sim"], int(match["frame"]), device)
    if Path(spec).suffix.lower() in (".npy", ".png"):
        return read_image(Path(spec))
    raise FluidlossError(f"{spec!r}: expected {INPUTS}")


def image_frame(image: np.ndarray, device: torch.device) -> Frame:
    """An image [H, W, C] as a frame whose fields are its channels, each [1, H, W] on `device`."""
    return {f"channel_{c}": torch.from_numpy(image[None, ..., c]).float().to(device) for c in range(image.shape[-1])}


def available(metrics: list[Metric]) -> list[Metric]:
    """The metrics, or the error of the first one whose weights are missing (a pair has nothing else to show)."""
    for metric in metrics:
        if metric.missing:
            raise FluidlossError(f"metric {metric.name}: {metric.missing}")
    return metrics


def compare_frames(a: tuple[Frame, Geometry], b: tuple[Frame, Geometry], names: str,
                   device: torch.device) -> dict[str, float | tuple[float, float]]:
    """Each metric of frame B against frame A (on A's geometry); a measure of one frame alone gives (A, B), each on
    its own geometry (the mass balance of a frame runs from its own simulation's first frame)."""
    (frame_a, geometry), (frame_b, _) = a, b
    shapes = [{name: tuple(t.shape) for name, t in f.items()} for f in (frame_a, frame_b)]
    if shapes[0] != shapes[1]:
        raise FluidlossError(f"the frames differ in fields or resolution: {shapes[0]} vs {shapes[1]}")
    metrics = available(build_metrics(names, device))
    values = measure(metrics, frame_b, frame_a, geometry)
    own_a, own_b = (measure(metrics, frame, frame, g, absolute_only=True) for frame, g in (a, b))
    return {m.name: (own_a[m.name].item(), own_b[m.name].item()) if m.absolute else values[m.name].item()
            for m in metrics}


def compare_images(a: np.ndarray, b: np.ndarray, names: str, device: torch.device) -> dict[str, float]:
    """Each registry metric of image B against image A; `lsim` as the official `computeDistance`."""
    if a.shape != b.shape:
        raise FluidlossError(f"the inputs differ in shape: {list(a.shape)} vs {list(b.shape)}")
    metrics = available(build_metrics(names, device))
    physical = [m.name for m in metrics if m.name in MEASURES]
    if physical:
        raise FluidlossError(f"{', '.join(physical)} need velocity: compare two dataset frames FILE.h5:SIM:FRAME")
    frames = [image_frame(x, device) for x in (a, b)]
    values = measure([m for m in metrics if m.name != "lsim"], frames[1], frames[0], Geometry((1.0, 1.0)))
    result = {name: value.item() for name, value in values.items()}
    if any(m.name == "lsim" for m in metrics):
        result["lsim"] = lsim_distance(a, b)
    return {m.name: result[m.name] for m in metrics}


def compare(a: str, b: str, names: str, device: torch.device) -> dict[str, float | tuple[float, float]]:
    """The metrics of input B against input A: two dataset frames, or two images/arrays."""
    first, second = read_input(a, device), read_input(b, device)
    if isinstance(first, np.ndarray) and isinstance(second, np.ndarray):
        return compare_images(first, second, names, device)
    if isinstance(first, tuple) and isinstance(second, tuple):
        return compare_frames(first, second, names, device)
    raise FluidlossError(f"compare like with like: {a} and {b} are a dataset frame and an image")
