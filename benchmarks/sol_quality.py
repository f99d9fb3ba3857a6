"""Quality bar of Solver-in-the-Loop training: a SOL model trained on a small Karman set (coarse 64x32 against the
downsampled 128x64 reference) must lower the mean absolute error of a 100-step rollout on a held-out Reynolds number
by at least 50% against the uncorrected coarse simulation. Everything runs through the `fluidloss` command line;
the rollouts use the engine's CorrectedSolver, the same one `train sol` differentiates through.

Run from the repository root (about 20 minutes per loss on two CPU cores at the defaults):
    python benchmarks/sol_quality.py --work sol_study [--losses mse lsim] [--epochs 4] [--steps 100]
Data and trained runs in --work are reused when present (delete a run directory to retrain it).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from fluidloss_cli.engine.checkpoints import build_model, load_checkpoint
from fluidloss_cli.engine.correction import CorrectedSolver
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.device import resolve_device
from fluidloss_cli.engine.resolution import Resolution


def fluidloss(*args: str) -> None:
    """Run one fluidloss command, failing the benchmark when it fails."""
    subprocess.run([sys.executable, "-m", "fluidloss_cli", *args], check=True)


def make_data(work: Path, train_re: list[str], test_re: list[str], frames: int) -> tuple[Path, Path]:
    """Fine 128x64 training and held-out sets and their 64x32 coarse references (skipped when present)."""
    out = {}
    for role, reynolds in (("train", train_re), ("test", test_re)):
        fine, coarse = work / f"{role}_128x64.h5", work / f"{role}_64x32.h5"
        if not fine.exists():
            fluidloss("generate", "karman", "--res", "128x64", "--re", *reynolds, "--frames", str(frames),
                      "--workers", "2", "--out", str(fine))
        if not coarse.exists():
            fluidloss("downsample", str(fine), "--res", "64x32", "--out", str(coarse))
        out[role] = coarse
    return out["train"], out["test"]


def train(work: Path, data: Path, loss: str, args: argparse.Namespace) -> tuple[Path, float]:
    """Train (or reuse) a SOL run with `loss`; returns its best checkpoint and the training wall time in seconds."""
    run = work / f"sol_{loss.replace('*', '').replace('+', '_')}"
    timing = run / "wall_time_s.json"
    if not timing.exists():
        started = time.perf_counter()
        fluidloss("train", "sol", "--data", str(data), "--out", str(run), "--loss", loss, "--epochs", str(args.epochs),
                  "--batch-size", str(args.batch_size), "--unroll", str(args.unroll), "--lr", str(args.lr),
                  "--device", args.device, "--overwrite")
        timing.write_text(json.dumps(time.perf_counter() - started))
    return run / "best.pt", json.loads(timing.read_text())


def rollout_mae(test: Path, checkpoint: Path | None, starts: list[int], steps: int, device: torch.device) -> float:
    """Mean absolute velocity error over `steps` coarse steps from each start frame of every test simulation."""
    windows = FrameWindows(test, window=steps + 1)
    solver = CorrectedSolver("karman", Resolution(*windows_resolution(windows)), 1.0, device)
    model = build_model(load_checkpoint(checkpoint)).to(device) if checkpoint else None
    errors = []
    for sim in windows.reynolds:
        for start in starts:
            item = windows[windows.index.index((sim, start))]
            frame = {n: item[n][:1].to(device) for n in solver.fields}
            frames = solver.rollout(frame, item["reynolds"].view(1).to(device), steps, model)
            for k, predicted in enumerate(frames, start=1):
                error = sum((predicted[n][0].cpu() - item[n][k]).abs().sum() for n in frame)
                errors.append(error / sum(item[n][k].numel() for n in frame))
    return float(torch.stack(errors).mean())


def windows_resolution(windows: FrameWindows) -> tuple[int, int]:
    """The cell resolution (H, W) of a dataset's frames, from the shape of its x-faces."""
    height, faces = windows[0]["velocity_x"].shape[-2:]
    return height, faces - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--losses", nargs="+", default=["mse", "lsim"])
    parser.add_argument("--train-re", nargs="+", default=["1e5", "2e5", "4e5", "8e5"])
    parser.add_argument("--test-re", nargs="+", default=["6e5"])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--unroll", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--starts", type=int, nargs="+", default=[100, 150])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    train_data, test_data = make_data(args.work, args.train_re, args.test_re, args.frames)
    baseline = rollout_mae(test_data, None, args.starts, args.steps, device)
    rows = [{"model": "coarse, uncorrected", "mae": baseline}]
    for loss in args.losses:
        checkpoint, seconds = train(args.work, train_data, loss, args)
        mae = rollout_mae(test_data, checkpoint, args.starts, args.steps, device)
        rows.append({"model": f"coarse + SOL ({loss})", "mae": mae, "train_minutes": seconds / 60,
                     "reduction": 1 - mae / baseline})
    print(f"\n{args.steps}-step rollouts on held-out Re {', '.join(args.test_re)} from frames "
          f"{', '.join(map(str, args.starts))}, mean absolute velocity error against the 64x32 reference:")
    for row in rows:
        extra = (f"  {100 * row['reduction']:5.1f}% lower, trained {row['train_minutes']:.1f} min"
                 if "reduction" in row else "")
        print(f"  {row['model']:<26} MAE {row['mae']:.5f}{extra}")
    (args.work / "sol_quality.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
