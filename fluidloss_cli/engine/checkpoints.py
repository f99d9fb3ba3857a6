"""Training checkpoints: self-describing files written atomically and loaded without unpickling code.

A checkpoint holds the task, the model (registry name, config, weights), the training options, the loss, the
identity of every dataset, versions, and the state to resume from: epoch, optimizer, scheduler, random generators.
"""

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fluidloss_cli.engine.atomic import write_bytes
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.models import MODELS

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
    if not path.is_file():
        raise FluidlossError(f"{path}: no such checkpoint")
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
    inference); an unknown model or weights that do not fit it are a one-line error."""
    spec = checkpoint.get("model")
    if not isinstance(spec, dict) or spec.get("name") not in MODELS:
        name = spec.get("name") if isinstance(spec, dict) else None
        raise FluidlossError(f"{path} names an unknown model {name!r} (known: {', '.join(MODELS)}); it was written by "
                             "another fluidloss version or damaged")
    try:
        model = MODELS[spec["name"]](**spec["config"])
        model.load_state_dict(spec["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise FluidlossError(f"{path}: its {spec['name']!r} weights do not fit the model it describes ({first})") \
            from None
    return model.eval().requires_grad_(False)


def rng_states() -> dict[str, Any]:
    """The states of every random generator training touches (torch CPU and CUDA, numpy, python)."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {**numpy_state, "state": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                                           "pos": numpy_state["state"]["pos"]}},
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` recorded."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    np.random.set_state({**numpy_state, "state": {"key": numpy_state["state"]["key"].numpy().astype(np.uint32),
                                                  "pos": numpy_state["state"]["pos"]}})
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
