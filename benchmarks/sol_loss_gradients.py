"""Why does a loss train SOL well or badly? For SOL models (checkpoints of `train sol`, or the untrained network),
measured on windows of a coarse reference through the same unrolled solver that training differentiates:

- each loss's value and the norm of its gradient with respect to the network's weights, beside MSE's (Adam divides
  the gradient by its running RMS, so only a gradient near Adam's eps of 1e-8 would be too small to move it; in a
  weighted sum such as mse+0.1*lsim the ratio says which term steers);
- the cosine between each loss's gradient and MSE's (does minimising it also lower MSE, step by step?);
- for each model, the share of its rollout velocity error above half the Nyquist wavenumber: errors that a loss
  computed on coarse features (LSiM's first layer is a 12x12 convolution of stride 4) does not see.

Run from the repository root, e.g. on the study_pbdl folder:
    python benchmarks/sol_loss_gradients.py --data pbdl/cells/data/karman_a/train-coarse/data.h5 \
        --test pbdl/cells/data/karman_a/test-coarse/data.h5 \
        --models untrained pbdl/cells/train/sol/karman_a/mse/seed0/run/best.pt \
                 pbdl/cells/train/sol/karman_a/lsim/seed0/run/best.pt --losses mse lsim "mse+0.1*lsim"
"""

import argparse
from pathlib import Path

import torch
from torch import nn

from fluidloss_cli.engine.checkpoints import load_sol
from fluidloss_cli.engine.correction import CorrectedSolver, correction_channels
from fluidloss_cli.engine.data.info import DatasetInfo, read_dt
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.losses import build_loss
from fluidloss_cli.engine.models.sol_net import SolNet
from fluidloss_cli.engine.phiflow_setup import configure
from fluidloss_cli.engine.training.tasks.sol import UnrolledLoss


def load(model: str, scene: str) -> nn.Module:
    """A checkpoint's network, or Um et al.'s network as training starts it (width 32, 5 blocks; zero output)."""
    if model == "untrained":
        torch.manual_seed(0)
        return SolNet(*correction_channels(scene), width=32, blocks=5, kernel_size=5)
    return load_sol(Path(model), torch.device("cpu"))[0]


def gradient(net: nn.Module, value: torch.Tensor) -> torch.Tensor:
    """The gradient of `value` with respect to every weight of `net`, flattened."""
    grads = torch.autograd.grad(value, [p for p in net.parameters() if p.requires_grad], allow_unused=True)
    return torch.cat([g.flatten() for g in grads if g is not None])


def gradients(net: nn.Module, data: Path, losses: list[str], unroll: int, batches: int, batch: int
              ) -> dict[str, tuple[float, torch.Tensor]]:
    """Per loss: its mean value and its gradient summed over `batches` batches of windows spread over the data."""
    info = DatasetInfo.read(data, "sol")
    windows = FrameWindows(data, unroll + 1)
    step = max(1, len(windows) // (batches * batch))
    unrolled = UnrolledLoss(info.scene, info.resolution, read_dt(data), unroll)
    found = {}
    for spec in losses:
        loss = build_loss(spec)
        total, grad = 0.0, None
        for b in range(batches):
            items = [windows[(b * batch + i) * step] for i in range(batch)]
            stacked = {k: torch.stack([item[k] for item in items]) for k in (*windows.fields, "reynolds")}
            net.zero_grad(set_to_none=True)
            value = unrolled(net.requires_grad_(True), loss, stacked)
            g = gradient(net, value)
            total, grad = total + value.item(), g if grad is None else grad + g
        found[spec] = (total / batches, grad / batches)
    return found


def high_frequency_share(net: nn.Module, test: Path, steps: int) -> float:
    """Share of the rollout's velocity error energy above half the Nyquist wavenumber (|k| > k_max/2), over
    `steps` corrected steps from the first frame of every test simulation."""
    info = DatasetInfo.read(test, "sol")
    solver = CorrectedSolver(info.scene, info.resolution, read_dt(test), torch.device("cpu"))
    windows = FrameWindows(test, steps + 1)
    high = total = 0.0
    for sim in windows.reynolds:
        item = windows[windows.index.index((sim, 0))]
        frame = {k: item[k][:1] for k in solver.fields}
        frames = solver.rollout(frame, item["reynolds"].view(1), steps, net.requires_grad_(False))
        for t, predicted in enumerate(frames, start=1):
            for name in solver.compared:
                error = predicted[name][0].double() - item[name][t].double()
                power = torch.fft.fft2(error).abs().square()
                ky = torch.fft.fftfreq(error.shape[0]).abs()[:, None] * 2
                kx = torch.fft.fftfreq(error.shape[1]).abs()[None, :] * 2
                mask = torch.maximum(ky, kx) > 0.5
                high, total = high + float(power[mask].sum()), total + float(power.sum())
    return high / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="coarse training reference (train sol --data)")
    parser.add_argument("--test", type=Path, help="coarse test reference, for the error spectrum of each model")
    parser.add_argument("--models", nargs="+", default=["untrained"], help="checkpoints, or 'untrained'")
    parser.add_argument("--losses", nargs="+", default=["mse", "lsim", "mse+0.1*lsim"])
    parser.add_argument("--unroll", type=int, default=4)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="rollout steps for the error spectrum")
    args = parser.parse_args()
    configure()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    scene = DatasetInfo.read(args.data, "sol").scene
    for model in args.models:
        net = load(model, scene)
        found = gradients(net, args.data, ["mse", *[s for s in args.losses if s != "mse"]], args.unroll,
                          args.batches, args.batch_size)
        reference = found["mse"][1]
        print(f"\n{model}")
        print(f"{'loss':<16}{'value':>12}{'|grad|':>12}{'|grad|/mse':>12}{'cos(grad, mse)':>16}")
        for spec, (value, grad) in found.items():
            cosine = float(torch.nn.functional.cosine_similarity(grad, reference, dim=0))
            print(f"{spec:<16}{value:>12.4g}{float(grad.norm()):>12.4g}{float(grad.norm() / reference.norm()):>12.4g}"
                  f"{cosine:>16.3f}")
        if args.test is not None:
            share = high_frequency_share(net, args.test, args.steps)
            print(f"rollout velocity error above half Nyquist: {100 * share:.1f}% of its energy")


if __name__ == "__main__":
    main()
