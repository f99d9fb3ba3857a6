"""Task `ae`: a bottleneck autoencoder of frames; the checkpoint also holds its encoder and decoder on their own."""

from functools import partial
from typing import Any

import torch
from torch import nn

from fluidloss_cli.engine.data.info import DatasetInfo, check_like
from fluidloss_cli.engine.data.schema import field_shape
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.model_names import MODEL_CLASSES
from fluidloss_cli.engine.models import build
from fluidloss_cli.engine.task_options import model_arguments, recorded, with_defaults
from fluidloss_cli.engine.training.data import train_val
from fluidloss_cli.engine.training.frame_loss import frame_fields, prediction_loss
from fluidloss_cli.engine.training.tasks.base import TaskSetup


def ae_loss(model: nn.Module, loss: nn.Module, batch: dict) -> torch.Tensor:
    """The loss of the reconstructed frames."""
    frame = frame_fields(batch)
    return prediction_loss(model, loss, frame, frame)


def export_parts(model: nn.Module) -> dict:
    """Encoder and decoder weights on their own, so either can be loaded without the other."""
    return {"encoder": model.encoder.state_dict(), "decoder": model.decoder.state_dict()}


def setup(seed: int = 0, **values: Any) -> TaskSetup:
    """Check the data (and validation file), and describe the model, the data and the compression ratio. `values`: the
    options of `train ae` (task_options.TASK_OPTIONS["ae"]), the declared defaults for those left out."""
    options = with_defaults("ae", values)
    data, val = options["data"], options["val"]
    infos = {"data": DatasetInfo.read(data, "ae")}
    if val is not None:
        infos["val"] = DatasetInfo.read(val, "ae")
        check_like(infos["data"], infos["val"])
    train, held_out = train_val(partial(FrameWindows, window=1), [data], val and [val], options["val_split"], seed)
    info = infos["data"]
    model, arguments = model_arguments("ae", options)
    grid = (info.resolution.height + 1, info.resolution.width + 1)
    model_config = dict(in_channels=len(info.fields), out_channels=len(info.fields), **arguments,
                        **({"grid": list(grid)} if "grid" in MODEL_CLASSES[model].data else {}))
    values = sum(h * w for h, w in (field_shape(f, info.resolution) for f in info.fields))
    with torch.device("meta"):  # shapes only: a network too large for memory is refused later, with its estimate
        latent_shape = build(model, model_config).latent_shape(*grid)
    ratio = values / (latent_shape[0] * latent_shape[1] * latent_shape[2])
    return TaskSetup(
        task="ae", model=model, model_config=model_config, train=train, val=held_out, batch_loss=ae_loss,
        options=recorded("ae", options),
        datasets={role: i.identity() for role, i in infos.items()},
        summary=f"ae: {info.scene} {info.resolution}, {', '.join(info.fields)} ({values} values) -> latent "
                f"{'x'.join(map(str, latent_shape))}, compression ratio {ratio:.2f}; {len(train)} training and "
                f"{len(held_out)} validation frames",
        input_grid=grid,
        info=dict(compression_ratio=ratio, latent_shape=list(latent_shape), fields=list(info.fields)),
        export=export_parts,
    )
