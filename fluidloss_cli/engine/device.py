"""Device selection shared by every command: `auto`, `cpu`, `cuda` or `cuda:N`."""

from typing import Any

import torch

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.notice import warn


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a `--device` value into a torch device; `auto` picks CUDA when it is available."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise FluidlossError(f"--device {spec}: CUDA is not available on this machine (use --device cpu or auto)")
        index = spec.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise FluidlossError(f"--device {spec}: no such CUDA device (found {torch.cuda.device_count()})")
        return torch.device(spec)
    raise FluidlossError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N")


def use_for_phiflow(device: torch.device) -> None:
    """Make PhiFlow's torch backend create its tensors (grids, masks, solver work) on `device`."""
    from phi.torch import TORCH

    kind = "GPU" if device.type == "cuda" else "CPU"
    TORCH.set_default_device(TORCH.list_devices(kind)[device.index or 0])


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested dict) batch to `device`; other entries (names, indices) stay as they are."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def bf16_autocast(device: torch.device, amp: str) -> Any:
    """The networks' precision: bf16 autocast where `amp` is bf16 (`--amp bf16`), else a context that changes
    nothing. On a CPU without native bf16 (AVX512-BF16 or AMX) torch emulates it, and a network's forward and
    backward took 66x as long as in float32 here (an AVX2 EPYC): said once per process, as a warning."""
    enabled = amp == "bf16"
    if enabled and device.type == "cpu" and not cpu_has_bf16():
        _warn_once("--amp bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), so torch emulates it and the "
                   "networks run far slower than in float32 (66x measured on an AVX2 CPU); leave --amp off here")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 natively, as oneDNN reports it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warn(message)
