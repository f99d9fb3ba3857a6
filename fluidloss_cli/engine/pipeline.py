"""Rollouts of the study's pipeline: the coarse simulation, optionally corrected by a SOL checkpoint every step, and
optionally super-resolved by an SR checkpoint; what `simulate`, `evaluate` and `benchmark` run.

A pipeline is built from checkpoints alone (they carry scene, resolution, dt and model), and checked for
consistency: a SOL model and an SR model must be of the scene (or a variant of it: `scenes.same_family`), the SR model's input must be the coarse
resolution, and a starting dataset must match the coarse grid. A SOL model rolls out with the solver it was trained
with (engine/solvers.py).
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from fluidloss_cli.engine.checkpoints import SRModel, load_sol, load_sr
from fluidloss_cli.engine.correction import CorrectedSolver, Frame
from fluidloss_cli.engine.device import bf16_autocast
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution
from fluidloss_cli.engine.scenes import same_family
from fluidloss_cli.engine.solvers import solver_for, trained_solver


def network_precision(device: torch.device, amp: str) -> AbstractContextManager:
    """Where the networks of a rollout run in bf16 (`amp` bf16: autocast, as `train --amp` trains them); the solver
    stays float32 whatever the autocast (`CorrectedSolver.step` turns it off)."""
    return bf16_autocast(device, amp)


def in_float32(frame: Frame) -> Frame:
    """A frame a bf16 network produced, in float32 for the solver, the metrics and the files (float32 stays as is)."""
    return {name: values.float() for name, values in frame.items()}


@dataclass
class Pipeline:
    """Coarse solver, optional SOL correction, optional SR: one consistent setup on one device; `amp` bf16 runs the
    networks in bf16."""

    solver: CorrectedSolver
    sol: nn.Module | None = None
    sr: SRModel | None = None
    amp: str = "off"

    @classmethod
    def build(cls, scene: str, resolution: Resolution, dt: float, device: torch.device, sol: Path | None = None,
              sr: Path | None = None, solver: str | None = None, retarget: bool = False,
              amp: str = "off") -> "Pipeline":
        """Check that the checkpoints fit the coarse `scene` at `resolution` and `dt`, and build the pipeline on the
        SOL model's solver (`solver`, if given, must be it unless `retarget`), else on `solver` or the default."""
        model, trained = None, None
        if sol is not None:
            model, info = load_sol(sol, device)
            setup = (info["scene"], Resolution(*info["resolution"]), float(info["dt"]))
            if not same_family(setup[0], scene) or setup[1:] != (resolution, float(dt)):
                raise FluidlossError(f"{sol} corrects {setup[0]} at {setup[1]} with dt {setup[2]:g}, "
                                     f"not {scene} at {resolution} with dt {dt:g}")
            trained = trained_solver(info)
        upsampler = load_sr(sr, device) if sr is not None else None
        if upsampler and (not same_family(upsampler.scene, scene) or upsampler.coarse != resolution):
            raise FluidlossError(f"{sr} upsamples {upsampler.scene} at {upsampler.coarse} (factor {upsampler.factor}),"
                                 f" not {scene} at {resolution}")
        return cls(CorrectedSolver(scene, resolution, dt, device, solver_for(solver, trained, sol, retarget)), model,
                   upsampler, amp)

    def run(self, frame: Frame, reynolds: torch.Tensor, steps: int,
            progress: Callable[[int], None] = lambda done: None) -> tuple[list[Frame], list[Frame] | None]:
        """`steps` coarse (corrected) frames from `frame`, and their super-resolved versions when there is an SR;
        `progress` hears the number of steps done after each one."""
        with network_precision(self.solver.device, self.amp):
            coarse = self.solver.rollout(frame, reynolds, steps, self.sol, progress)
        return coarse, [self.upsample(f) for f in coarse] if self.sr else None

    def upsample(self, frame: Frame) -> Frame:
        """The SR model's fine frame of a coarse one, in float32."""
        with network_precision(self.solver.device, self.amp):
            return in_float32(self.sr(frame))
