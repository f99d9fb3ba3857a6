"""What LSiM penalises on real Karman velocity fields, with the official weights and the loss `train sol --loss lsim`
minimises (LSiMLoss summed over the two velocity components, as field_loss applies it).

(a) Magnitude: LSiM of the field scaled by 0.8 against LSiM of additive noise of the same MSE (per component),
    white (independent per face) and smooth (Gaussian-filtered, sigma 3 cells); ratio > 1: LSiM penalises the
    magnitude error more than noise of equal MSE.
(b) What LSiM leaves: from 0.8 x the field plus smooth noise, minimise LSiM alone with respect to the field (Adam,
    learning rate 1e-2 with cosine decay);
    report LSiM, the RMS residual against the reference, the amplitude (least-squares factor a in field ~ a * ref,
    about each component's mean) and the fraction of the residual's energy above half the Nyquist wavenumber
    (radial |k| > 0.25 cycles per cell; white noise has 80% there), at the start and at the end.

Run from the repository root (about 3 minutes on one core; it generates a small Karman dataset unless given one):
    python benchmarks/lsim_sensitivity.py [--data coarse.h5] [--frames 6] [--steps 300] [--weights LSiM.pth]
"""

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.losses import field_loss
from fluidloss_cli.engine.losses.lsim import LSiMLoss, load_lsim
from fluidloss_cli.engine.losses.mse import MSELoss

REPO = Path(__file__).resolve().parents[1]
Fields = list[torch.Tensor]  # the velocity components [1, H+?, W+?] of one frame


def make_data(folder: Path) -> Path:
    """One developed Karman simulation (128x64, Re 2e5, 200 frames) downsampled to 64x32, made by the CLI."""
    def run(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "fluidloss_cli", *args], check=True)

    run("generate", "karman", "--res", "128x64", "--re", "2e5", "--frames", "200", "--out", str(folder / "k.h5"))
    run("downsample", str(folder / "k.h5"), "--res", "64x32", "--out", str(folder / "k32.h5"))
    return folder / "k32.h5"


def smooth(noise: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """Gaussian filter [1, H, W] with reflecting borders."""
    radius = int(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=noise.dtype)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = F.pad(noise[None], (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))[0]


def noise_like(ref: Fields, errors: Fields, kind: str, generator: torch.Generator) -> Fields:
    """Zero-mean noise per component with the RMS of the matching error field, white or smooth."""
    out = []
    for r, e in zip(ref, errors):
        n = torch.randn(r.shape, generator=generator, dtype=r.dtype)
        n = smooth(n) if kind == "smooth" else n
        n = n - n.mean()
        out.append(r + n * e.square().mean().sqrt() / n.square().mean().sqrt())
    return out


def high_fraction(residual: Fields) -> float:
    """Fraction of the residual's energy at radial wavenumber above half the Nyquist one (|k| > 0.25 / cell)."""
    high = total = 0.0
    for r in residual:
        power = torch.fft.fft2(r[0] - r[0].mean()).abs().square()
        ky, kx = torch.meshgrid(torch.fft.fftfreq(r.shape[-2]), torch.fft.fftfreq(r.shape[-1]), indexing="ij")
        high += power[torch.sqrt(kx**2 + ky**2) > 0.25].sum().item()
        total += power.sum().item()
    return high / total


def amplitude(field: Fields, ref: Fields) -> float:
    """Least-squares a in field - mean ~ a * (ref - mean), over both components."""
    num = sum(((f - f.mean()) * (r - r.mean())).sum() for f, r in zip(field, ref))
    return (num / sum((r - r.mean()).square().sum() for r in ref)).item()


def rms(field: Fields, ref: Fields) -> float:
    return math.sqrt(sum((f - r).square().sum().item() for f, r in zip(field, ref)) / sum(r.numel() for r in ref))


def magnitude_table(frames: list[Fields], lsim: LSiMLoss, mse: MSELoss) -> None:
    """(a): per frame, LSiM of 0.8x vs noise of the same MSE; then mean +- std of the ratios."""
    print("(a) LSiM of a 0.8x magnitude error against additive noise of the same MSE")
    print(f"{'frame':>6} | {'MSE':>9} | {'LSiM 0.8x':>9} | {'white':>7} | {'smooth':>7} | {'ratio white':>11} | "
          f"{'ratio smooth':>12}")
    generator, ratios = torch.Generator().manual_seed(0), {"white": [], "smooth": []}
    for i, ref in frames:
        scaled = [0.8 * r for r in ref]
        errors = [s - r for s, r in zip(scaled, ref)]
        values = {"scaled": field_loss(lsim, scaled, ref).item()}
        for kind in ratios:
            noisy = noise_like(ref, errors, kind, generator)
            values[kind] = field_loss(lsim, noisy, ref).item()
            ratios[kind].append(values["scaled"] / values[kind])
        print(f"{i:>6} | {field_loss(mse, scaled, ref).item():9.2e} | {values['scaled']:9.4f} | "
              f"{values['white']:7.4f} | {values['smooth']:7.4f} | {ratios['white'][-1]:11.2f} | "
              f"{ratios['smooth'][-1]:12.2f}")
    for kind, r in ratios.items():
        print(f"LSiM(0.8x) / LSiM({kind} noise of equal MSE): {np.mean(r):.2f} +- {np.std(r):.2f} "
              f"(min {np.min(r):.2f}, max {np.max(r):.2f})")


def minimise(ref: Fields, lsim: LSiMLoss, steps: int, generator: torch.Generator) -> tuple[dict, dict]:
    """(b): Adam on LSiM alone from 0.8 x ref + smooth noise (RMS a quarter of the fluctuations'); the measures at
    start and end."""
    fluctuation = [0.25 * (r - r.mean()) for r in ref]
    start = [0.8 * r + n - r for r, n in zip(ref, noise_like(ref, fluctuation, "smooth", generator))]
    field = [s.clone().requires_grad_(True) for s in start]
    optimizer = torch.optim.Adam(field, lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)

    def measures(x: Fields) -> dict:
        x = [f.detach() for f in x]
        return dict(lsim=field_loss(lsim, x, ref).item(), rms=rms(x, ref), amplitude=amplitude(x, ref),
                    high=high_fraction([f - r for f, r in zip(x, ref)]))

    before = measures(start)
    for _ in range(steps):
        optimizer.zero_grad()
        field_loss(lsim, field, ref).backward()
        optimizer.step()
        schedule.step()
    return before, measures(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="a Karman dataset (default: generate one at 64x32)")
    parser.add_argument("--frames", type=int, default=6, help="frames of the last 100 of simulation 0 to use")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps of (b)")
    parser.add_argument("--weights", type=Path, default=REPO.parent / "shared" / "weights" / "LSiM.pth")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lsim, mse = LSiMLoss(load_lsim(args.weights)), MSELoss()
    with tempfile.TemporaryDirectory() as folder:
        windows = FrameWindows(args.data or make_data(Path(folder)), window=1)
        starts = [s for sim, s in windows.index if sim == windows.index[0][0]]
        picks = np.linspace(max(0, len(starts) - 100), len(starts) - 1, args.frames).round().astype(int)
        frames = [(starts[p], [windows[p][n][0][None].double() for n in ("velocity_x", "velocity_y")])
                  for p in picks]
    print(f"{len(frames)} frames of {windows.path.name} ({windows.index[0][0]}), official LSiM weights, float64\n")
    magnitude_table(frames, lsim.double(), mse)
    print(f"\n(b) minimising LSiM alone, {args.steps} Adam steps from 0.8 x field + smooth noise "
          "(start -> end; high: residual energy above half Nyquist)")
    print(f"{'frame':>6} | {'LSiM':>17} | {'RMS residual':>15} | {'amplitude':>13} | {'high':>13}")
    generator = torch.Generator().manual_seed(1)
    for i, ref in frames[:: max(1, len(frames) // 3)]:
        before, after = minimise(ref, lsim, args.steps, generator)
        print(f"{i:>6} | {before['lsim']:7.4f} -> {after['lsim']:6.4f} | {before['rms']:6.4f} -> {after['rms']:6.4f}"
              f" | {before['amplitude']:5.3f} -> {after['amplitude']:5.3f} | {before['high']:5.1%} -> "
              f"{after['high']:5.1%}")
    print(f"(RMS of the reference fields about their means: "
          f"{np.mean([rms([r - r.mean() for r in ref], [0 * r for r in ref]) for _, ref in frames]):.4f})")


if __name__ == "__main__":
    main()
