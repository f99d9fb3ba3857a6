"""What every scene provides: domain, boundaries, initial state, one PhiFlow time step, masks.

A scene is a small class in the spirit of PhiFlow's demos: its step is plain PhiFlow on the torch
backend, compiled once with `jit_compile`; the un-compiled `physics_step` stays differentiable for
Solver-in-the-Loop training.

The contract, all of it on `Scene` (docs/architecture.md, "A scene"): the class attributes below (those without a
default are required), `initial_state`, `physics_step` and `masks`; the rest of fluidloss reads a scene only through
them. What a correction sees and is scored on is derived here once (`stored_fields`, `scored_fields`,
`correction_masks`). A scene is registered by name with `scenes.register_scene`; its plain-torch step for the default
`native` solver, if it has one, with `native.register_native_step`.
"""

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from phi import math
from phi.field import Field, Noise
from phi.geom import Box
from phi.math import Solve, jit_compile

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution

State = dict[str, Field]


@dataclass(frozen=True)
class Wake:
    """A bluff body in a stream: its diameter, its centre (x, y) in domain units, and the stream's speed; the flow
    runs along +y."""

    diameter: float
    centre: tuple[float, float]
    speed: float


class Scene(ABC):
    """One simulation setup at one resolution, time step, Reynolds number and seed."""

    name: ClassVar[str]
    """The registered name (`generate NAME`), stored in every dataset."""
    domain_size: ClassVar[tuple[float, float]]
    """(height, width) in domain units."""
    default_resolution: ClassVar[str]
    """"HxW" that `generate` simulates without --res."""
    default_dt: ClassVar[float]
    default_frames: ClassVar[int]
    fields: ClassVar[tuple[str, ...]]
    """The state's stored fields: "velocity" (staggered, stored as `velocity_x`, `velocity_y`) always first, then
    optionally "density" (cell-centred), the only other field the dataset format, the solvers and the correction
    carry. The state may hold more (karman's pressure, the solve's warm start): those are not stored."""
    default_warmup: ClassVar[int] = 0
    """Frames `generate` simulates before the first stored one without --warmup (karman: until shedding starts)."""
    passive_fields: ClassVar[tuple[str, ...]] = ()
    """Fields of `fields` (never "velocity", which a correction corrects) that are carried and stored but neither
    seen by a correction network nor scored (karman's marker density, as in Um et al.); see `scored_fields`."""
    correction_masks: ClassVar[tuple[str, ...]] = ("obstacle_mask", "inflow_mask")
    """Names of the `masks()` a correction network reads as constant input channels, in this order."""
    render_quantity: ClassVar[str] = "vorticity"
    """What a rendered rollout of this scene shows best (`simulate --quantity`, as the study renders it): velocity,
    vorticity or density."""
    reynolds_range: ClassVar[tuple[float, float] | None] = None
    """Allowed Reynolds numbers (--re); None: the scene has no Reynolds number (and the correction no Re channel)."""
    default_reynolds: ClassVar[tuple[float, ...] | None] = None
    """What `generate` simulates without --re."""
    matrix_pressure: ClassVar[bool] = True
    """Pressure by phiml's sparse matrix (its int32 limit applies to `generate`'s size check)."""
    balance_rate: ClassVar[float | None] = None
    """Density a closed scene adds per time unit in the cells of its stored `inflow_mask`, for `evaluate`'s
    mass balance; None where no balance holds (no source, or smoke leaving through open boundaries)."""
    wake: "ClassVar[Wake | None]" = None
    """The bluff body whose wake sheds vortices, for the shedding analysis (`evaluation/shedding.py`: Strouhal
    number, onset); None: the scene has none."""
    boundaries: ClassVar[dict[str, str] | None] = None
    """The domain's outer boundary along each axis, `{"x": kind, "y": kind}` with kind "open", "wall" or "periodic"
    (both sides of an axis alike), for exports to other formats (`fluidloss export`, The Well's boundary groups);
    None: not declared, and such a scene's datasets are not exported."""

    def __init__(self, resolution: Resolution, dt: float, reynolds: float | None = None, seed: int = 0):
        if not (dt > 0 and np.isfinite(dt)):
            raise FluidlossError(f"--dt must be positive and finite, got {dt}")
        self.resolution, self.dt, self.seed = resolution, float(dt), int(seed)
        self.reynolds = self._check_reynolds(reynolds)
        if self.reynolds is not None:
            self.set_reynolds(self.reynolds)
        self._compiled_step = jit_compile(self.physics_step)

    @classmethod
    def stored_fields(cls) -> list[str]:
        """The per-frame datasets of this scene's simulations: velocity_x, velocity_y[, density]."""
        return ["velocity_x", "velocity_y", *(["density"] if "density" in cls.fields else [])]

    @classmethod
    def scored_fields(cls) -> list[str]:
        """The stored fields a correction network sees and SOL training, evaluation and novelty score: all but the
        passive ones. The one place this is decided."""
        return [name for name in cls.stored_fields() if name not in cls.passive_fields]

    @classmethod
    def correction_channels(cls) -> tuple[int, int]:
        """(input, output) channels of this scene's correction network: the scored fields (velocity x/y on one
        grid, density where not passive), the correction masks, Re where the scene has one; out: velocity x/y."""
        return len(cls.scored_fields()) + len(cls.correction_masks) + (cls.reynolds_range is not None), 2

    def set_reynolds(self, reynolds: float | math.Tensor) -> None:
        """Set the parameters that follow from the Reynolds number (a number, or a tensor along the batch)."""

    def for_batch(self, reynolds: Sequence[float]) -> "Scene":
        """A copy whose Reynolds-dependent parameters vary along the batch dimension `b`, one value per sample, so
        that one batched step advances simulations of several Reynolds numbers; scenes without one are returned."""
        if self.reynolds_range is None:
            return self
        batched = copy.copy(self)
        batched.set_reynolds(math.tensor([float(re) for re in reynolds], math.batch("b")))
        batched._compiled_step = jit_compile(batched.physics_step)
        return batched

    def _check_reynolds(self, reynolds: float | None) -> float | None:
        if self.reynolds_range is None:
            if reynolds is not None:
                raise FluidlossError(f"scene {self.name!r} has no Reynolds number: leave out --re")
            return None
        if reynolds is None:
            raise FluidlossError(f"scene {self.name!r} needs a Reynolds number (--re)")
        low, high = self.reynolds_range
        if not low <= reynolds <= high:
            raise FluidlossError(f"Reynolds number {reynolds:g} is out of range for {self.name}: {low:g} to {high:g}")
        return float(reynolds)

    @property
    def grid(self) -> dict[str, Any]:
        """Keyword arguments that place a PhiFlow grid on this scene's domain and resolution."""
        height, width = self.domain_size
        return dict(x=self.resolution.width, y=self.resolution.height, bounds=Box(x=width, y=height))

    @abstractmethod
    def initial_state(self) -> State:
        """The state at frame 0, perturbed reproducibly by the seed."""

    @abstractmethod
    def physics_step(self, state: State) -> State:
        """Advance the state by one time step dt (pure PhiFlow, differentiable)."""

    @abstractmethod
    def masks(self) -> dict[str, np.ndarray]:
        """Static cell-centred float32 masks [H, W], stored with every simulation (and downsampled with it):
        `obstacle_mask` (1 in obstacles; the physical measures leave those cells out) and `inflow_mask` (the source's
        cells or cell fractions), zeros where the scene has none (data/schema.py's MASKS). A correction reads those
        named in `correction_masks`."""

    def step(self, state: State) -> State:
        """One time step, compiled on first use."""
        return self._compiled_step(state)

    def pressure_solve(self) -> str:
        """A one-line description of how this scene solves for pressure."""
        return "PhiFlow make_incompressible"

    def parameters(self) -> dict[str, Any]:
        """Every parameter that defines the simulation, for the dataset's attributes."""
        height, width = self.domain_size
        return dict(
            scene=self.name,
            resolution=[self.resolution.height, self.resolution.width],
            domain_size=[height, width],
            dt=self.dt,
            reynolds=self.reynolds,
            seed=self.seed,
            pressure_solve=self.pressure_solve(),
        )

    def noise(self, grid_type: type, amplitude: float, extrapolation: Any, scale: float = 20.0) -> Field:
        """Smooth random field from the scene's seed, used to make simulations differ in detail."""
        math.seed(self.seed)
        return amplitude * grid_type(Noise(scale=scale, smoothness=1.0), extrapolation, **self.grid)

    @staticmethod
    def cg_solve(pressure_guess: Field | None, adjoint_rel_tol: float | None = 1e-3) -> Solve:
        """Conjugate gradients warm-started from the last pressure. The absolute tolerance 1e-4 (in
        divergence units, for velocities of order 1) sits above float32's floor: at 1e-5, CG stalls
        at 256x128 and never converges (measured in benchmarks/bench_generate.py).
        The adjoint (backward) solve gets its own tolerance, relative to the incoming gradient: reusing the
        forward absolute one stops it after zero iterations for a small loss, which drops the projection from
        the gradient (3.5% weight-gradient error, 130% on single weights); 1e-3 makes it exact to 0.01% for
        about as many iterations as the forward solve (benchmarks/sol_gradient_accuracy.py). None: phiml's
        default, a copy of the forward solve."""
        if math.get_precision() == 64:  # float64 runs (gradient references) solve to float64 accuracy
            return Solve("CG", 1e-12, 1e-12, max_iterations=5000, x0=pressure_guess,
                         gradient_solve=Solve("CG", 1e-12, 0, max_iterations=5000))
        adjoint = None if adjoint_rel_tol is None else Solve("CG", adjoint_rel_tol, 0, max_iterations=2000)
        return Solve("CG", 1e-5, 1e-4, max_iterations=2000, x0=pressure_guess, gradient_solve=adjoint)
