"""Checkpoints: self-describing files written atomically by training and loaded without unpickling code by every
use case (the trained networks of SOL, SR and autoencoder runs, each checked for its task).

A checkpoint holds the task, the model (registry name, config, weights), the training options, the loss, the
identity of every dataset, versions, and the state to resume from: epoch, optimizer, scheduler, random generators.
"""

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fluidloss_cli.engine.atomic import write_bytes
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import Frame
from fluidloss_cli.engine.model_names import MODEL_CLASSES
from fluidloss_cli.engine.models import build
from fluidloss_cli.engine.paths import check_input_file
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.upsample import super_resolve

FORMAT = "fluidloss-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(content: dict[str, Any], path: Path) -> None:
    """Serialise `content` in memory, then write it atomically over `path`, so a checkpoint is never half-written
    and a full disk is reported by the file system, not as a torch error."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **content}, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU (tensors and plain data only), or fail with one line."""
    path = Path(path)
    check_input_file(path, "checkpoint")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a damaged or foreign file
        raise FluidlossError(f"{path}: not a readable checkpoint (corrupt or not written by fluidloss train)") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise FluidlossError(f"{path}: not a fluidloss checkpoint")
    if content.get("format_version") != FORMAT_VERSION:
        raise FluidlossError(f"{path}: checkpoint version {content.get('format_version')}, this fluidloss reads "
                             f"{FORMAT_VERSION}")
    return content


def build_model(checkpoint: dict[str, Any], path: Path | str = "the checkpoint") -> nn.Module:
    """The trained network of a checkpoint (read from `path`), on the CPU, in evaluation mode, its weights frozen (for
    inference) and stored channels-last, which makes their forward pass 1.1x to 1.3x faster on the CPU
    (`python benchmarks/bench_inference.py`); an unknown model or weights that do not fit it are a one-line error."""
    spec = checkpoint.get("model")
    if not isinstance(spec, dict) or spec.get("name") not in MODEL_CLASSES:
        name = spec.get("name") if isinstance(spec, dict) else None
        raise FluidlossError(f"{path} names an unknown model {name!r} (known: {', '.join(MODEL_CLASSES)}); it was "
                             "written by another fluidloss version, with a model registered elsewhere (see "
                             "FLUIDLOSS_PLUGINS), or damaged")
    try:
        model = build(spec["name"], spec["config"])
        model.load_state_dict(spec["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise FluidlossError(f"{path}: its {spec['name']!r} weights do not fit the model it describes ({first})") \
            from None
    broken = [name for name, value in model.state_dict().items() if value.is_floating_point()
              and not torch.isfinite(value).all()]
    if broken:
        raise FluidlossError(f"{path}: its weights hold NaN or infinite values ({', '.join(broken[:3])}); a run that "
                             "diverged, or a damaged file")
    return model.eval().requires_grad_(False).to(memory_format=torch.channels_last)


@dataclass
class SRModel:
    """A trained super-resolution network with the facts needed to apply it."""

    model: nn.Module
    factor: int
    scene: str
    coarse: Resolution
    fields: list[str]
    path: Path

    @torch.no_grad()
    def __call__(self, frame: Frame) -> Frame:
        """The fine frame predicted from a coarse one (fields the model was trained on)."""
        return super_resolve(self.model, {name: frame[name] for name in self.fields}, self.factor)


def checkpoint_of(path: Path, task: str) -> dict:
    """Load a checkpoint and check that it was trained for `task`."""
    checkpoint = load_checkpoint(path)
    if checkpoint["task"] != task:
        raise FluidlossError(f"{path} is a {checkpoint['task']!r} checkpoint, expected a {task!r} one")
    return checkpoint


def load_sol(path: Path, device: torch.device) -> tuple[nn.Module, dict]:
    """A SOL correction network on `device` and its task facts (scene, resolution, dt)."""
    checkpoint = checkpoint_of(path, "sol")
    return build_model(checkpoint, path).to(device), checkpoint["task_info"]


def load_sr(path: Path, device: torch.device) -> SRModel:
    """An SR network on `device` with its factor, scene and coarse input resolution."""
    checkpoint = checkpoint_of(path, "sr")
    coarse = checkpoint["datasets"]["coarse"]
    return SRModel(build_model(checkpoint, path).to(device), int(checkpoint["task_info"]["factor"]), coarse["scene"],
                   Resolution(*coarse["resolution"]), list(checkpoint["task_info"]["fields"]), Path(path))
