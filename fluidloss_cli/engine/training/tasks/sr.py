"""Task `sr`: coarse frame -> fine frame (factor 2 or 4) with `SRNet`, trained on frame pairs of two datasets."""

from typing import Any

import torch
from torch import nn

from fluidloss_cli.engine.data.info import DatasetInfo, check_like, sr_factor
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import field_loss
from fluidloss_cli.engine.models.sr_net import FACTORS
from fluidloss_cli.engine.task_options import model_arguments, recorded, with_defaults
from fluidloss_cli.engine.training.data import PairedFrames, train_val
from fluidloss_cli.engine.training.frame_loss import frame_fields
from fluidloss_cli.engine.training.tasks.base import TaskSetup
from fluidloss_cli.engine.upsample import super_resolve


def sr_loss(model: nn.Module, loss: nn.Module, batch: dict) -> torch.Tensor:
    """The loss of the fine frames predicted from the coarse ones (bicubic plus the network's residual)."""
    coarse, fine = frame_fields(batch["coarse"]), frame_fields(batch["fine"])
    predicted = super_resolve(model, coarse, fine["velocity_x"].shape[-2] // coarse["velocity_x"].shape[-2])
    return field_loss(loss, [predicted[n] for n in fine], list(fine.values()))


def setup(seed: int = 0, **values: Any) -> TaskSetup:
    """Check the coarse/fine pair (and the validation pair), and describe the model and data. `values`: the options
    of `train sr` (task_options.TASK_OPTIONS["sr"]), the declared defaults for those left out."""
    options = with_defaults("sr", values)
    coarse, fine, val_coarse, val_fine = (options[name] for name in ("coarse", "fine", "val_coarse", "val_fine"))
    if (val_coarse is None) != (val_fine is None):
        raise FluidlossError("--val-coarse and --val-fine go together: give both or neither (then --val-split)")
    infos = {"coarse": DatasetInfo.read(coarse, "sr"), "fine": DatasetInfo.read(fine, "sr")}
    factor = sr_factor(infos["coarse"], infos["fine"], FACTORS)
    if val_coarse is not None:
        infos |= {"val_coarse": DatasetInfo.read(val_coarse, "sr"), "val_fine": DatasetInfo.read(val_fine, "sr")}
        sr_factor(infos["val_coarse"], infos["val_fine"], (factor,))
        check_like(infos["fine"], infos["val_fine"])
    train, val = train_val(PairedFrames, [coarse, fine], val_coarse and [val_coarse, val_fine], options["val_split"],
                           seed)
    fine_info = infos["fine"]
    channels = len(fine_info.fields)
    model, arguments = model_arguments("sr", options)
    return TaskSetup(
        task="sr", model=model,
        model_config=dict(in_channels=channels, out_channels=channels, factor=factor, **arguments),
        train=train, val=val, batch_loss=sr_loss,
        options=recorded("sr", options),
        datasets={role: info.identity() for role, info in infos.items()},
        summary=f"sr x{factor}: {fine_info.scene} {infos['coarse'].resolution} -> {fine_info.resolution}, "
                f"{', '.join(fine_info.fields)}; {len(train)} training and {len(val)} validation frames",
        input_grid=(infos["coarse"].resolution.height + 1, infos["coarse"].resolution.width + 1),
        info=dict(factor=factor, fields=list(fine_info.fields)),
        baseline="bicubic upsampling",
    )
