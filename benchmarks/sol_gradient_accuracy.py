"""Accuracy and cost of SOL weight gradients through the PhiFlow solver (`--solver phiflow`) for several tolerances of
its adjoint (backward) pressure solve; the native solver's gradient is checked in tests/test_sol_gradients.py.

The reference is the float64 gradient of the same loss (UnrolledLoss under phiml's 64-bit precision, pressure solved
to 1e-12), itself checked against central finite differences. Each row is the float32 gradient as training computes
it, with the adjoint solve at phiml's default (a copy of the forward solve: absolute tolerance 1e-4) or at a relative
tolerance; columns: error along a random unit direction, error of the whole gradient vector, largest error of the
two output-layer biases, CG iterations of the backward solves (per solver step, max over the batch), forward and
backward time.

Run from the repository root (a few minutes on one core; it generates a small Karman dataset unless given one):
    python benchmarks/sol_gradient_accuracy.py [--data coarse.h5 --res 64x32] [--samples 8] [--unroll 4 2]
"""

import argparse
import functools
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from phi import math
from torch import nn

from fluidloss_cli.engine.correction import correction_channels
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models.sol_net import SolNet
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes.base import Scene
from fluidloss_cli.engine.training.tasks.sol import UnrolledLoss

TOLERANCES = (None, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
"""None: phiml's default adjoint (the forward solve's settings, as before); numbers: adjoint relative tolerances."""
PRODUCTION = Scene.__dict__["cg_solve"].__func__


@contextmanager
def adjoint_tolerance(rel_tol: float | None):
    """Scenes solve their adjoint pressure with `rel_tol` inside the block (the production default outside)."""
    Scene.cg_solve = staticmethod(functools.partial(PRODUCTION, adjoint_rel_tol=rel_tol))
    try:
        yield
    finally:
        Scene.cg_solve = staticmethod(PRODUCTION)


def make_data(folder: Path) -> tuple[Path, Resolution]:
    """A 128x64 Karman set of two Reynolds numbers, downsampled to 64x32, made by the CLI."""
    run = functools.partial(subprocess.run, check=True)
    run([sys.executable, "-m", "fluidloss_cli", "generate", "karman", "--res", "128x64", "--re", "1e5", "2e5",
         "--frames", "60", "--out", str(folder / "k.h5")])
    run([sys.executable, "-m", "fluidloss_cli", "downsample", str(folder / "k.h5"), "--res", "64x32",
         "--out", str(folder / "k32.h5")])
    return folder / "k32.h5", Resolution(64, 32)


def model(dtype: torch.dtype, shift: list[torch.Tensor] | None = None, h: float = 0.0) -> nn.Module:
    """The same correction network every call (output layer not zero, so all weights matter), moved by h * shift."""
    torch.manual_seed(0)
    net = SolNet(*correction_channels("karman"), width=16)
    nn.init.normal_(net.head.weight, std=1e-3)
    net = net.to(dtype)
    if shift is not None:
        with torch.no_grad():
            for p, d in zip(net.parameters(), shift):
                p.add_(h * d.to(dtype))
    return net


def gradient(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten().double() for p in net.parameters()])


def measure(data: Path, res: Resolution, samples: int, unroll: int) -> None:
    """Print one table: float32 gradients for each adjoint tolerance against the float64 reference."""
    windows = FrameWindows(data, window=unroll + 1)
    items = [windows[int(i)] for i in torch.linspace(10, len(windows) - 1, samples)]
    batch = {n: torch.stack([item[n] for item in items]) for n in (*windows.fields, "reynolds")}
    mse, shapes = build_loss("mse"), [p.shape for p in model(torch.float32).parameters()]
    direction = [torch.randn(s, generator=torch.Generator().manual_seed(i)) for i, s in enumerate(shapes)]
    norm = torch.sqrt(sum((d**2).sum() for d in direction))
    direction = torch.cat([(d / norm).flatten().double() for d in direction])
    unflat = list(torch.split(direction, [s.numel() for s in shapes]))
    unflat = [d.view(s) for d, s in zip(unflat, shapes)]

    def loss(net: nn.Module, dtype: torch.dtype) -> torch.Tensor:
        return UnrolledLoss("karman", res, 1.0, unroll, solver="phiflow")(net, mse,
                                                                          {k: v.to(dtype) for k, v in batch.items()})

    with math.precision(64):
        reference = model(torch.float64)
        value = loss(reference, torch.float64)
        value.backward()
        exact = gradient(reference)
        h = 1e-4
        numeric = (loss(model(torch.float64, unflat, h), torch.float64)
                   - loss(model(torch.float64, unflat, -h), torch.float64)).item() / (2 * h)
    along = exact @ direction
    print(f"\n{res}, {samples} samples, unroll {unroll}: loss {value.item():.3e}; float64 reference: adjoint "
          f"{along:.6e} vs central FD (h {h:g}) {numeric:.6e}, {abs(along - numeric) / abs(numeric):.1e} apart")
    print(f"{'adjoint tolerance':>24} | {'direction':>9} | {'vector':>7} | {'biases':>7} | {'backward CG its':>18} | "
          f"{'forward, backward s':>19}")
    bias = slice(len(exact) - 2, len(exact))
    for rel_tol in TOLERANCES:
        name = "forward's (abs 1e-4)" if rel_tol is None else f"rel {rel_tol:g}"
        net = model(torch.float32)
        try:
            with adjoint_tolerance(rel_tol), math.SolveTape() as tape:
                start = time.perf_counter()
                value = loss(net, torch.float32)
                forward, middle = len(tape), time.perf_counter()
                value.backward()
                seconds = middle - start, time.perf_counter() - middle
        except math.ConvergenceException:
            print(f"{name:>24} | adjoint CG does not converge in float32 (stalls)")
            continue
        grad = gradient(net)
        its = [int(info.iterations.max) for info in list(tape)[forward:]]
        error = abs(grad @ direction - along) / abs(along)
        vector = (grad - exact).norm() / exact.norm()
        biases = ((grad[bias] - exact[bias]).abs() / exact[bias].abs()).max()
        print(f"{name:>24} | {error:9.2%} | {vector:7.2%} | {biases:7.2%} | {str(its):>18} | {seconds[0]:8.2f}, {seconds[1]:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="a coarse Karman dataset (default: generate one)")
    parser.add_argument("--res", default="64x32", help="its resolution, HxW")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--unroll", type=int, nargs="+", default=[4, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", "SolveTape contains two results")  # one tape holds every step's solves
    with tempfile.TemporaryDirectory() as folder:
        data, res = (args.data, Resolution(*map(int, args.res.split("x")))) if args.data else make_data(Path(folder))
        for unroll in args.unroll:
            measure(data, res, args.samples, unroll)
        if not args.data:
            measure(data, res, 1, 2)


if __name__ == "__main__":
    main()
