"""Task `sr`: coarse frame -> fine frame (factor 2 or 4) with `SRNet`, trained on frame pairs of two datasets."""

from pathlib import Path

import torch
from torch import nn

from fluidloss_cli.engine.data.info import DatasetInfo, check_like, sr_factor
from fluidloss_cli.engine.defaults import VAL_SPLIT
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import field_loss
from fluidloss_cli.engine.models.sr_net import FACTORS
from fluidloss_cli.engine.training.data import PairedFrames, train_val
from fluidloss_cli.engine.training.frame_loss import frame_fields
from fluidloss_cli.engine.training.tasks.base import TaskSetup
from fluidloss_cli.engine.upsample import super_resolve


def sr_loss(model: nn.Module, loss: nn.Module, batch: dict) -> torch.Tensor:
    """The loss of the fine frames predicted from the coarse ones (bicubic plus the network's residual)."""
    coarse, fine = frame_fields(batch["coarse"]), frame_fields(batch["fine"])
    predicted = super_resolve(model, coarse, fine["velocity_x"].shape[-2] // coarse["velocity_x"].shape[-2])
    return field_loss(loss, [predicted[n] for n in fine], list(fine.values()))


def setup(coarse: Path, fine: Path, val_coarse: Path | None = None, val_fine: Path | None = None,
          val_split: float = VAL_SPLIT, seed: int = 0, width: int = 32, blocks: int = 4) -> TaskSetup:
    """Check the coarse/fine pair (and the validation pair), and describe the model and data."""
    if (val_coarse is None) != (val_fine is None):
        raise FluidlossError("--val-coarse and --val-fine go together: give both or neither (then --val-split)")
    infos = {"coarse": DatasetInfo.read(coarse, "sr"), "fine": DatasetInfo.read(fine, "sr")}
    factor = sr_factor(infos["coarse"], infos["fine"], FACTORS)
    if val_coarse is not None:
        infos |= {"val_coarse": DatasetInfo.read(val_coarse, "sr"), "val_fine": DatasetInfo.read(val_fine, "sr")}
        sr_factor(infos["val_coarse"], infos["val_fine"], (factor,))
        check_like(infos["fine"], infos["val_fine"])
    train, val = train_val(PairedFrames, [coarse, fine], val_coarse and [val_coarse, val_fine], val_split, seed)
    fine_info = infos["fine"]
    channels = len(fine_info.fields)
    return TaskSetup(
        task="sr", model="sr",
        model_config=dict(in_channels=channels, out_channels=channels, factor=factor, width=width, blocks=blocks),
        train=train, val=val, batch_loss=sr_loss,
        options=dict(val_split=None if val_coarse else val_split, width=width, blocks=blocks),
        datasets={role: info.identity() for role, info in infos.items()},
        summary=f"sr x{factor}: {fine_info.scene} {infos['coarse'].resolution} -> {fine_info.resolution}, "
                f"{', '.join(fine_info.fields)}; {len(train)} training and {len(val)} validation frames",
        input_grid=(infos["coarse"].resolution.height + 1, infos["coarse"].resolution.width + 1),
        info=dict(factor=factor, fields=list(fine_info.fields)),
        baseline="bicubic upsampling",
    )
