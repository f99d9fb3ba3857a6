"""SOL gradients are exact: the weight gradient of `train sol`'s unrolled MSE loss, computed in float32 as training
computes it, matches central finite differences of the same loss in float64 to 1%.

The finite differences run the same code (UnrolledLoss, CorrectedSolver, the solver's pressure solve; for both
solvers, native and phiflow) in float64 (under phiml's 64-bit precision for PhiFlow), where the pressure solve converges to float64 accuracy; the float64 adjoint gradient
agreeing with them to 1e-4 shows the reference itself is converged in the step size. Before the adjoint pressure
solve had a tolerance of its own, it reused the forward absolute tolerance, stopped after zero iterations for a
small loss, and the head-bias gradient was off by up to 130% (benchmarks/sol_gradient_accuracy.py).
"""

import pytest
import torch
from phi import math
from torch import nn

from fluidloss_cli.engine.correction import correction_channels
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models.sol_net import SolNet
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.training.tasks.sol import UnrolledLoss

pytestmark = pytest.mark.usefixtures("one_thread")

UNROLL, SAMPLES, STEP = 4, 4, 1e-4


def real_batch(path, unroll: int, samples: int) -> dict[str, torch.Tensor]:
    """`samples` windows of unroll + 1 frames spread over both simulations, collated as the DataLoader does."""
    windows = FrameWindows(path, window=unroll + 1)
    items = [windows[int(i)] for i in torch.linspace(10, len(windows) - 1, samples)]
    return {name: torch.stack([item[name] for item in items]) for name in (*windows.fields, "reynolds")}


def sol_net() -> SolNet:
    """A correction network whose output layer is not zero, so that every weight reaches the loss."""
    torch.manual_seed(0)
    model = SolNet(*correction_channels("karman"), width=8)
    nn.init.normal_(model.head.weight, std=1e-3)
    return model


def directions(model: nn.Module) -> dict[str, list[torch.Tensor]]:
    """Unit directions in weight space: each output-layer bias (the uniform x and y corrections) and a random one."""
    zeros = [torch.zeros_like(p) for p in model.parameters()]
    picked = {}
    for channel, axis in enumerate("xy"):
        picked[f"head bias {axis}"] = [z.clone() for z in zeros]
        picked[f"head bias {axis}"][-1][channel] = 1.0
    generator = torch.Generator().manual_seed(1)
    random = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in model.parameters()]
    norm = torch.sqrt(sum((r**2).sum() for r in random))
    picked["random"] = [r / norm for r in random]
    return picked


def along(model: nn.Module, direction: list[torch.Tensor]) -> float:
    """The directional derivative stored in the model's .grad."""
    return sum((p.grad.double() * d.double()).sum() for p, d in zip(model.parameters(), direction)).item()


@pytest.mark.parametrize("solver", ["native", "phiflow"])
def test_sol_weight_gradient_matches_float64_finite_differences(karman_files, solver):
    """Through either solver: native's implicit (adjoint) pressure solve, PhiFlow's adjoint CG."""
    _, coarse = karman_files
    batch = real_batch(coarse, UNROLL, SAMPLES)
    batch_loss, mse = UnrolledLoss("karman", Resolution(64, 32), 1.0, UNROLL, solver), build_loss("mse")
    model = sol_net()
    batch_loss(model, mse, batch).backward()  # float32, as training runs

    reference = sol_net().double()
    batch64 = {name: values.double() for name, values in batch.items()}

    def loss64(shift: list[torch.Tensor], h: float) -> float:
        """The float64 loss with the weights moved by h * shift."""
        shifted = sol_net().double()
        with torch.no_grad():
            for p, d in zip(shifted.parameters(), shift):
                p.add_(h * d.double())
        return batch_loss(shifted, mse, batch64).item()

    with math.precision(64):
        batch_loss(reference, mse, batch64).backward()
        for name, direction in directions(model).items():
            numeric = (loss64(direction, STEP) - loss64(direction, -STEP)) / (2 * STEP)
            assert abs(numeric) > 1e-6, name  # the direction does reach the loss
            assert along(reference, direction) == pytest.approx(numeric, rel=1e-4), name  # the reference is converged
            assert along(model, direction) == pytest.approx(numeric, rel=0.01), name
