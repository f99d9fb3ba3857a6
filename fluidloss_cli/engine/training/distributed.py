"""Data parallel training: one model replica per process, started by torch's own launcher (torch.distributed.run).

`fluidloss train ... --nproc N` runs its command line again in N processes through the launcher. Each process reads
its place from the launcher's environment (WORLD_SIZE, RANK, LOCAL_RANK), joins a process group (gloo on the CPU,
nccl on CUDA with GPU LOCAL_RANK), and trains every world-size-th frame of each global batch; DistributedDataParallel
averages the gradients. Losses are weighted so that the average is the global batch's mean even when the batch does
not divide evenly, so N processes follow the loss curve of one with the same --batch-size.
"""

import atexit
import logging
import os
import shlex
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run
from torch.nn.parallel import DistributedDataParallel

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.provenance import provenance

LAUNCHER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
"""The signals torch's launcher takes over while it runs (it stops the workers on them)."""


@dataclass(frozen=True)
class World:
    """The processes of a run and this one's place among them; a run without the launcher is rank 0 of 1."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @classmethod
    def from_env(cls) -> "World":
        """The world that torch's launcher describes in the environment, or a single process."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))

    @property
    def main(self) -> bool:
        """Whether this process prints and writes the run's files (rank 0)."""
        return self.rank == 0


def launched() -> bool:
    """Whether this process was started by torch's launcher (which sets WORLD_SIZE), so it must not launch again."""
    return "WORLD_SIZE" in os.environ


def check_world(size: int, batch_size: int, device: torch.device) -> None:
    """Raise a one-line error unless `size` processes can share the global batch and, on CUDA, have a GPU each."""
    if size < 1:
        raise FluidlossError(f"--nproc must be at least 1, got {size}")
    if batch_size % size:
        raise FluidlossError(f"--batch-size {batch_size} does not divide among {size} processes: it is the global "
                             f"batch, and each process trains batch-size / nproc frames of it")
    if device.type == "cuda" and size > torch.cuda.device_count():
        raise FluidlossError(f"{size} processes on CUDA need a GPU each, this machine has {torch.cuda.device_count()}")


def join(world: World, device: torch.device) -> torch.device:
    """Join the run's process group (once per process, left at exit) and return this process's device."""
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    return device


def replicate(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """The model that training steps call: wrapped in DistributedDataParallel when there are several processes."""
    if world.size == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class Share(NamedTuple):
    """This process's part of one global batch: the frames it trains, how many of them count, the batch's size."""

    indices: list[int]
    count: int
    total: int

    def weight(self, world_size: int) -> float:
        """The factor on this process's mean loss that makes DDP's average gradient the global batch's mean."""
        return self.count * world_size / self.total


def shares(order: list[int], batch_size: int, world: World) -> list[Share]:
    """Cut an epoch's frame order into global batches and give this process every world-size-th frame of each; a
    process left without frames (a last batch smaller than the world) trains a stand-in frame with weight 0."""
    result = []
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        mine = batch[world.rank::world.size]
        result.append(Share(mine or batch[:1], len(mine), len(batch)))
    return result


def reduce_sum(value: float, world: World, device: torch.device) -> float:
    """The sum of `value` over all processes (in float64; itself for a single process)."""
    if world.size == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.item()


def global_mean(value: float, share: Share, world: World, device: torch.device) -> float:
    """The global batch's mean loss from this process's mean over its share: the same number on every process."""
    return value if world.size == 1 else reduce_sum(value * share.count, world, device) / share.total


@contextmanager
def launch_environment(nproc: int) -> Iterator[None]:
    """For the launch only: the workers' hash seed and CPU threads, a quiet launcher, and our signal handlers back
    afterwards (the workers print their own errors, so the launcher's failure report would only repeat them)."""
    added = {key: value for key, value in (("PYTHONHASHSEED", "0"),
                                           ("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc))))
             if key not in os.environ}
    handlers = {sig: signal.getsignal(sig) for sig in LAUNCHER_SIGNALS}
    os.environ.update(added)
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for key in added:
            os.environ.pop(key, None)


def exit_status(exc: ChildFailedError) -> int:
    """The exit status of a failed launch: that of the lowest rank that exited by itself (the launcher then stops
    the others with a signal), else 128 + the signal."""
    codes = [failure.exitcode for _, failure in sorted(exc.failures.items())]
    return next((code for code in codes if code > 0), 128 - codes[0])


def relaunch(nproc: int, args: list[str]) -> int:
    """Run `python -m fluidloss_cli ARGS` in `nproc` processes on this machine through torch's launcher, and return
    their exit status. Rank 0 alone prints; the others' output (such as the collectives that rank 0 left) is dropped."""
    with launch_environment(nproc), tempfile.TemporaryDirectory(prefix="fluidloss-launch-") as logs:
        options = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--local-ranks-filter=0",
                              f"--log-dir={logs}", "-m", "fluidloss_cli"])
        options.training_script_args = args  # not parsed: the launcher's parser would take e.g. --nproc for its own
        try:
            run(options)
        except ChildFailedError as exc:
            return exit_status(exc)
        except SignalException as exc:
            return 128 + exc.sigval
    return 0


def run_in_processes(nproc: int, batch_size: int, device: torch.device) -> int:
    """Check that `nproc` processes can share the batch on `device`, then run this process's own command line (as
    provenance records it) in that many processes; their exit status."""
    check_world(nproc, batch_size, device)
    return relaunch(nproc, shlex.split(provenance()["command"])[1:])
