"""Quality of super-resolution training: an `sr` model trained on coarse/fine Karman pairs must reconstruct held-out
fine frames better than bicubic upsampling of the coarse ones (mean absolute error over every held-out frame).

Run from the repository root, after benchmarks/sol_quality.py has made the data in the same --work folder:
    python benchmarks/sr_quality.py --work sol_study [--losses mse lsim] [--epochs 5]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from fluidloss_cli.engine.checkpoints import build_model, load_checkpoint
from fluidloss_cli.engine.training.data import PairedFrames
from fluidloss_cli.engine.training.frame_loss import frame_fields
from fluidloss_cli.engine.upsample import super_resolve, upsample_frame

VELOCITY = ("velocity_x", "velocity_y")


def mae(predicted: dict, target: dict) -> float:
    """Mean absolute error over every velocity face of a batch."""
    total = sum((predicted[n] - target[n]).abs().sum() for n in VELOCITY)
    return float(total / sum(target[n].numel() for n in VELOCITY))


@torch.no_grad()
def evaluate(coarse: Path, fine: Path, checkpoint: Path | None) -> float:
    """MAE of the model's (or, without one, bicubic) fine frames over all frames of the held-out pair."""
    model = build_model(load_checkpoint(checkpoint)) if checkpoint else None
    errors, count = 0.0, 0
    for batch in DataLoader(PairedFrames(coarse, fine), batch_size=32):
        low, high = frame_fields(batch["coarse"]), frame_fields(batch["fine"])
        factor = high["velocity_x"].shape[-2] // low["velocity_x"].shape[-2]
        predicted = super_resolve(model, low, factor) if model else upsample_frame(low, factor)
        errors += mae(predicted, high) * len(high["velocity_x"])
        count += len(high["velocity_x"])
    return errors / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--losses", nargs="+", default=["mse"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    work = args.work
    rows = [{"model": "bicubic", "mae": evaluate(work / "test_64x32.h5", work / "test_128x64.h5", None)}]
    for loss in args.losses:
        run = work / f"sr_{loss.replace('*', '').replace('+', '_')}"
        if not (run / "best.pt").exists():
            subprocess.run([sys.executable, "-m", "fluidloss_cli", "train", "sr", "--coarse", str(work / "train_64x32.h5"),
                            "--fine", str(work / "train_128x64.h5"), "--out", str(run), "--loss", loss, "--epochs",
                            str(args.epochs), "--batch-size", str(args.batch_size), "--device", "cpu", "--overwrite"],
                           check=True)
        rows.append({"model": f"sr x2 ({loss})",
                     "mae": evaluate(work / "test_64x32.h5", work / "test_128x64.h5", run / "best.pt")})
    print("\nheld-out frames, coarse 64x32 -> fine 128x64, mean absolute velocity error:")
    for row in rows:
        print(f"  {row['model']:<14} MAE {row['mae']:.5f}  ({row['mae'] / rows[0]['mae']:.2f} x bicubic)")
    (work / "sr_quality.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
