"""Benchmark: forward+backward time of each loss on a batch of staggered velocity fields, as a ratio to the
forward+backward of the SOL correction network on the same batch (input: stacked velocity + mask + Re channels).

Run from the repository root:  python benchmarks/bench_losses.py [--batch 16] [--size 64] [--repeats 15] [--threads N]
Losses whose ImageNet backbone file is missing run on random weights, and the table says so.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchvision

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.fields import stack_staggered
from fluidloss_cli.engine.losses import FieldLoss, build_loss, field_loss
from fluidloss_cli.engine.losses.lpips_loss import LPIPSLoss
from fluidloss_cli.engine.losses.vgg import VGGLoss
from fluidloss_cli.engine.models import model_class

RANDOM_FALLBACK: dict[str, Callable[[], FieldLoss]] = {
    "vgg": lambda: VGGLoss(features=torchvision.models.vgg16(weights=None).features),
    "lpips-alex": lambda: LPIPSLoss("alex", imagenet_weights=False),
}
"""Losses that can run on random backbone weights when the ImageNet file is absent (timing does not depend on it)."""


def build(name: str) -> tuple[FieldLoss | None, str]:
    """The loss and a note on its weights; None with the reason when it cannot be built."""
    try:
        loss = build_loss(name)
        return loss, "pretrained weights" if list(loss.parameters()) else "no weights"
    except FluidlossError as exc:
        if name in RANDOM_FALLBACK:
            return RANDOM_FALLBACK[name](), "random weights (ImageNet file missing)"
        return None, f"skipped: {exc}"


def seconds(step: Callable[[], None]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> None:
    """Time the SOL network and every loss interleaved, then print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--losses", default="mse,mae,lsim,vgg,lpips-alex")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    b, n = args.batch, args.size
    vx, rx = torch.randn(b, n, n + 1), torch.randn(b, n, n + 1)
    vy, ry = torch.randn(b, n + 1, n), torch.randn(b, n + 1, n)
    net = model_class("sol")(4, 2)
    grid = stack_staggered(vx, vy)
    net_input = torch.cat([grid, torch.ones(b, 1, n + 1, n + 1), torch.full((b, 1, n + 1, n + 1), 500.0)], dim=1)

    def net_step() -> None:
        """One training pass of the network: forward, a scalar loss, backward."""
        net(net_input).square().mean().backward()
        net.zero_grad(set_to_none=True)

    def loss_step(loss: FieldLoss) -> Callable[[], None]:
        """One forward+backward pass of `loss` on the staggered prediction, gradients to the prediction."""
        def step() -> None:
            """Fresh leaf copies of the prediction, so every pass builds and frees its own graph."""
            px, py = vx.clone().requires_grad_(), vy.clone().requires_grad_()
            field_loss(loss, [px, py], [rx, ry]).backward()
        return step

    steps: dict[str, Callable[[], None]] = {"SOL net": net_step}
    notes = {"SOL net": f"{sum(p.numel() for p in net.parameters())} parameters, input {list(net_input.shape)}"}
    for name in args.losses.split(","):
        loss, notes[name] = build(name)
        if loss is not None:
            steps[name] = loss_step(loss)

    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(seconds(step))

    base = statistics.median(times["SOL net"])
    print(f"forward+backward, batch of {b} staggered {n}x{n} velocities, CPU, {args.threads} threads, "
          f"median of {args.repeats}")
    print(f"{'':<12} {'ms':>9} {'x SOL net':>10}  weights / notes")
    for name, note in notes.items():
        if name in times:
            median = statistics.median(times[name])
            print(f"{name:<12} {median * 1e3:>9.2f} {median / base:>10.3f}  {note}")
        else:
            print(f"{name:<12} {'-':>9} {'-':>10}  {note}")


if __name__ == "__main__":
    main()
