"""Task `sol`: Solver-in-the-Loop. From each window's first frame the coarse solver runs `unroll` steps, the network
correcting the velocity after each; the loss compares every corrected state with the reference frame of that time,
summed over the steps, with gradients through the solver."""

import json
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.profiler import record_function

from fluidloss_cli.engine.correction import RE_SCALE, CorrectedSolver, channel_scales, correction_channels
from fluidloss_cli.engine.data.info import DatasetInfo, check_like, read_dt
from fluidloss_cli.engine.data.schema import open_dataset
from fluidloss_cli.engine.data.statistics import FieldScales
from fluidloss_cli.engine.data.windows import FrameWindows
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.losses import field_loss
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER
from fluidloss_cli.engine.task_options import model_arguments, recorded, with_defaults
from fluidloss_cli.engine.training.data import train_val
from fluidloss_cli.engine.training.tasks.base import TaskSetup

class UnrolledLoss:
    """The batch loss of SOL training; builds the coarse solver on the device of the first batch it sees."""

    def __init__(self, scene: str, resolution: Resolution, dt: float, unroll: int, solver: str = DEFAULT_SOLVER,
                 field_scales: dict[str, float] | None = None):
        """`field_scales`: each scored field is divided by its scale before the loss (`--normalize`), so that a
        pointwise loss weighs every field by its spread; perceptual losses rescale each image anyway."""
        self.scene, self.resolution, self.dt, self.unroll, self.kind = scene, resolution, dt, unroll, solver
        self.field_scales = field_scales or {}
        self.solvers: dict[torch.device, CorrectedSolver] = {}

    def solver(self, device: torch.device) -> CorrectedSolver:
        """The coarse solver on `device`, built once."""
        if device not in self.solvers:
            self.solvers[device] = CorrectedSolver(self.scene, self.resolution, self.dt, device, self.kind)
        return self.solvers[device]

    def __call__(self, model: nn.Module, loss: nn.Module, batch: dict) -> torch.Tensor:
        """Sum over the unrolled steps of the loss between corrected states and reference frames; under mixed
        precision only the network runs in bf16, the solver and the loss in float32."""
        device = batch["velocity_x"].device
        solver = self.solver(device)
        state = solver.state({name: batch[name][:, 0] for name in solver.fields})
        total = torch.zeros((), device=device)
        for step in range(1, self.unroll + 1):
            state = solver.step(state, batch["reynolds"], model)
            with record_function("sol.loss"), torch.autocast(device.type, enabled=False):  # full precision
                predicted = solver.frame(state)
                scale = {n: self.field_scales.get(n, 1.0) for n in solver.compared}
                total = total + field_loss(loss, [predicted[n] / scale[n] for n in solver.compared],
                                           [batch[n][:, step] / scale[n] for n in solver.compared])
        return total


def check_downsampled(path: Path, resolution: Resolution) -> None:
    """Refuse a reference that was simulated at its own resolution: the solver at that resolution reproduces it to
    rounding, so there is nothing to correct (the first loss is ~0 and any later one looks like an explosion)."""
    with open_dataset(path) as handle:
        made = json.loads(handle.attrs["provenance"])
    if "source_resolution" not in made:
        raise FluidlossError(f"{path} was simulated at {resolution}, not downsampled: the solver reproduces it and SOL "
                             f"has nothing to learn; train on a coarse reference, e.g. `fluidloss downsample {path} "
                             f"--res {resolution.height // 2}x{resolution.width // 2} --out COARSE.h5`")


def setup(seed: int = 0, **values: Any) -> TaskSetup:
    """Check the reference data (a dataset downsampled to the coarse resolution) and describe model and training
    through the coarse solver (native or phiflow), which the checkpoint records for its rollouts. `values`: the
    options of `train sol` (task_options.TASK_OPTIONS["sol"]), the declared defaults for those left out; `normalize`
    scales the network's inputs, output and the loss's fields by the spread of the training data (`FieldScales`)."""
    options = with_defaults("sol", values)
    data, val, val_split, unroll = options["data"], options["val"], options["val_split"], options["unroll"]
    solver = options["solver"]
    infos = {"data": DatasetInfo.read(data, "sol")}
    if val is not None:
        infos["val"] = DatasetInfo.read(val, "sol")
        check_like(infos["data"], infos["val"])
    info, dt = infos["data"], read_dt(data)
    for path, about in ((data, info), *(((val, infos["val"]),) if val is not None else ())):
        check_downsampled(path, about.resolution)
    if val is not None and read_dt(val) != dt:
        raise FluidlossError(f"{val} was simulated with dt {read_dt(val)}, {data} with dt {dt}")
    if info.frames < unroll + 1:
        raise FluidlossError(f"{data}: --unroll {unroll} needs {unroll + 1} frames per simulation, it has {info.frames}")
    windows = partial(FrameWindows, window=unroll + 1)
    train, held_out = train_val(windows, [data], val and [val], val_split, seed)
    in_channels, out_channels = correction_channels(info.scene)
    scales = FieldScales.read(info) if options["normalize"] else None
    model, arguments = model_arguments("sol", options)
    return TaskSetup(
        task="sol", model=model,
        model_config=dict(in_channels=in_channels, out_channels=out_channels, **arguments,
                          **(channel_scales(info.scene, scales) if scales else {})),
        train=train, val=held_out,
        batch_loss=UnrolledLoss(info.scene, info.resolution, dt, unroll, solver, scales and scales.fields),
        options=recorded("sol", options),
        datasets={role: i.identity() for role, i in infos.items()},
        summary=f"sol: {info.scene} {info.resolution}, dt {dt:g}, {unroll} unrolled steps of the {solver} solver; {len(train)} training and "
                f"{len(held_out)} validation windows",
        input_grid=(info.resolution.height + 1, info.resolution.width + 1), passes=unroll,
        info=dict(scene=info.scene, resolution=list(info.resolution), dt=dt, unroll=unroll,
                  fields=list(info.fields), re_scale=RE_SCALE, solver=solver),
        baseline="uncorrected solver",
    )
