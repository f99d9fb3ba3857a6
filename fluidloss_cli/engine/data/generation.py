"""Generating a dataset: run each simulation of a plan, in parallel worker processes, into HDF5.

Each finished simulation is first written atomically to its own part file in `OUT.h5.parts/`, so an
interrupted run keeps every finished simulation and `resume` recomputes only the missing ones; the
parts are merged into `OUT.h5` (again atomically) when all are done.
"""

import itertools
import json
import multiprocessing
import os
import queue
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from fluidloss_cli.engine.atomic import check_room, write_text
from fluidloss_cli.engine.data.schema import (
    atomic_h5,
    create_frame_dataset,
    dataset_attributes,
    json_attr,
    sim_name,
)
from fluidloss_cli.engine.data.size import check_size, check_stored_size, frame_bytes
from fluidloss_cli.engine.data.stepping import STEPPERS, solver_parameters, stored_fields
from fluidloss_cli.engine.data.workers import exit_when_terminated, orphan_guard, stop_workers
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.outputs import check_output, claim_outputs
from fluidloss_cli.engine.provenance import provenance
from fluidloss_cli.engine.resolution import Resolution, parse_resolution
from fluidloss_cli.engine.scenes import scene_class
from fluidloss_cli.engine.native import step_class
from fluidloss_cli.engine.solvers import DEFAULT_SOLVER, check_solver

Progress = Callable[[int, int], None]  # (simulation index, frames finished)


@dataclass(frozen=True)
class SimulationSpec:
    """One simulation of a dataset: its index and what makes it differ from the others."""

    index: int
    reynolds: float | None
    seed: int


@dataclass(frozen=True)
class GenerateJob:
    """Everything that defines a dataset; two runs with equal jobs produce the same simulations."""

    scene: str
    resolution: Resolution
    frames: int
    dt: float
    simulations: tuple[SimulationSpec, ...] = field(default_factory=tuple)
    warmup: int = 0  # frames simulated before the first stored one, not stored
    solver: str = DEFAULT_SOLVER  # engine/solvers.py: "native" or "phiflow"

    def describe(self) -> dict:
        """The job as plain JSON data (lists, not tuples), comparable with a stored plan.json."""
        return json.loads(json.dumps({**asdict(self), "resolution": list(self.resolution)}))


def plan_job(scene: str, resolution: Resolution | None, frames: int | None, dt: float | None,
             reynolds: Sequence[float] | None, seeds: Sequence[int], warmup: int | None = None,
             solver: str = DEFAULT_SOLVER) -> GenerateJob:
    """Validate the options and list the simulations: every Reynolds number with every seed; `warmup` frames are
    simulated before the first stored frame, by `solver`. An option left at None takes the scene's default."""
    check_solver(solver)
    cls = scene_class(scene)
    if solver == "native":
        step_class(scene)  # a scene without a native step is refused here, before any output exists
    resolution = resolution or parse_resolution(cls.default_resolution)
    frames = cls.default_frames if frames is None else frames
    reynolds = cls.default_reynolds if reynolds is None else reynolds
    if frames < 2:
        raise FluidlossError(f"--frames must be at least 2, got {frames}")
    warmup = cls.default_warmup if warmup is None else warmup
    if warmup < 0:
        raise FluidlossError(f"--warmup must be 0 or more, got {warmup}")
    dt = cls.default_dt if dt is None else dt
    reynolds_values: list[float | None] = list(reynolds) if reynolds else [None]
    if len(set(seeds)) != len(seeds) or len(set(reynolds_values)) != len(reynolds_values):
        raise FluidlossError("--re and --seed values must not repeat")
    specs = tuple(SimulationSpec(i, re, seed) for i, (re, seed) in enumerate(itertools.product(reynolds_values, seeds)))
    check_size(scene, resolution, len(cls.fields) + 1, frames, len(specs), cls.matrix_pressure)
    for spec in specs:  # fail on a bad Reynolds number or dt before any work starts
        cls(resolution, dt, spec.reynolds, spec.seed)
    return GenerateJob(scene, resolution, frames, dt, specs, warmup, solver)


def simulate_to_files(job: GenerateJob, specs: Sequence[SimulationSpec], paths: Sequence[Path],
                      progress: Progress) -> None:
    """Run simulations together (PhiFlow: one after another per frame; native: as one batch) and write each, frame
    by frame, to its own HDF5 file (atomically: all appear when the last frame is written)."""
    scenes = [scene_class(job.scene)(job.resolution, job.dt, spec.reynolds, spec.seed) for spec in specs]
    names = stored_fields(scenes[0])
    per_frame = frame_bytes(job.resolution, len(names))
    with ExitStack() as stack:
        groups = [stack.enter_context(atomic_h5(path)).create_group(sim_name(spec.index))
                  for spec, path in zip(specs, paths)]
        datasets = [{name: create_frame_dataset(group, name, job.frames, job.resolution) for name in names}
                    for group in groups]
        for scene, group in zip(scenes, groups):
            for name, mask in scene.masks().items():
                group.create_dataset(name, data=mask)
        start = time.perf_counter()
        def warmed(done: int) -> None:
            for spec in specs:
                progress(spec.index, done)

        for frame, values in enumerate(STEPPERS[job.solver](scenes, job.frames, job.warmup, warmed)):
            for spec, path, written, arrays in zip(specs, paths, datasets, values):
                check_room(path, per_frame)
                for name, array in arrays.items():
                    if not np.isfinite(array).all():
                        raise FluidlossError(f"simulation {spec.index} (Re={spec.reynolds}, seed={spec.seed}) "
                                             f"produced non-finite {name} at frame {frame}: reduce --dt")
                    written[name][frame] = array
                progress(spec.index, job.warmup + frame + 1)  # frames simulated, the warm-up's included
        elapsed = time.perf_counter() - start
        for spec, scene, group in zip(specs, scenes, groups):
            group.attrs.update(
                reynolds=np.nan if spec.reynolds is None else spec.reynolds,
                seed=spec.seed,
                parameters=json_attr(solver_parameters(job.solver, scene)),
                wall_time_s=elapsed,
                frames_per_second=(job.warmup + job.frames) / elapsed,
                simulated_together=len(specs),
            )


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _part_path(parts: Path, spec: SimulationSpec) -> Path:
    return parts / f"{sim_name(spec.index)}.h5"


def _finished(path: Path) -> bool:
    """A part file counts as finished only if it opens and carries the attributes written last."""
    try:
        with h5py.File(path, "r") as handle:
            return all("wall_time_s" in handle[name].attrs for name in handle)
    except OSError:
        return False


def prepare_output(job: GenerateJob, out: Path, resume: bool, overwrite: bool) -> list[SimulationSpec]:
    """Check the parts of an interrupted run (the output's lock held, `check_output` passed) and return the simulations
    still to run."""
    parts = _parts_dir(out)
    plan_file = parts / "plan.json"
    if parts.exists() and overwrite and not resume:
        shutil.rmtree(parts)
    if parts.exists():
        if not resume:
            raise FluidlossError(f"an interrupted run left {parts}: pass --resume to complete it, or --overwrite to start over")
        if _stored_plan(plan_file) != job.describe():
            raise FluidlossError(f"--resume: {parts} was made with different options; rerun with the same ones or --overwrite")
    parts.mkdir(exist_ok=True)
    write_text(plan_file, json.dumps(job.describe(), indent=1))
    return [spec for spec in job.simulations if not _finished(_part_path(parts, spec))]


def _stored_plan(plan_file: Path) -> dict | None:
    """The job an interrupted run recorded; None when the file is missing or torn."""
    try:
        return json.loads(plan_file.read_text())
    except (OSError, ValueError):
        return None


_progress_queue: "multiprocessing.Queue | None" = None


def _init_worker(progress_queue: "multiprocessing.Queue", threads: int, parent: int) -> None:
    """Set up a worker: its progress queue and threads; it dies with the parent (see `orphan_guard`), and leaves
    Ctrl-C to the parent, which stops the workers itself."""
    global _progress_queue
    _progress_queue = progress_queue
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    orphan_guard(parent)


def _worker(job: GenerateJob, specs: Sequence[SimulationSpec], paths: Sequence[Path]) -> None:
    exit_when_terminated(lambda: simulate_to_files(job, specs, paths,
                                                   lambda index, done: _progress_queue.put((index, done))))


def shares(job: GenerateJob, pending: Sequence[SimulationSpec], workers: int) -> list[list[SimulationSpec]]:
    """The simulations each unit of work runs together: PhiFlow one at a time (a worker's step costs the same per
    simulation whatever the batch), native all of a worker's share in one batch (dealt round-robin, so shares
    differ by at most one)."""
    if job.solver == "phiflow":
        return [[spec] for spec in pending]
    count = min(workers, len(pending))
    return [list(pending[i::count]) for i in range(count)]


def run_simulations(job: GenerateJob, pending: Sequence[SimulationSpec], parts: Path, workers: int, progress: Progress) -> None:
    """Run the pending simulations, `workers` processes at a time; one thread each, so workers share the cores.
    Workers are forked from this process, so they start with PhiFlow and torch already imported (spawned ones
    re-import them and reached only 1.6x on two cores instead of 2.0x)."""
    units = shares(job, pending, workers)
    if workers == 1 or len(units) == 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for specs in units:
                simulate_to_files(job, specs, [_part_path(parts, spec) for spec in specs], progress)
        finally:
            torch.set_num_threads(threads)
        return
    context = multiprocessing.get_context("spawn" if torch.cuda.is_initialized() else "fork")  # CUDA cannot fork
    progress_queue = context.Queue()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(progress_queue, 1, os.getpid())) as pool:
        futures = [pool.submit(_worker, job, specs, [_part_path(parts, spec) for spec in specs]) for specs in units]
        try:
            while True:
                done, running = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
                _drain(progress_queue, progress)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    raise failed[0].exception()
                if not running:
                    break
        except BaseException:  # a failed simulation or Ctrl-C: stop the others now; finished part files stay
            stop_workers(pool)
            raise
    _drain(progress_queue, progress)


def _drain(progress_queue: "multiprocessing.Queue", progress: Progress) -> None:
    while True:
        try:
            progress(*progress_queue.get_nowait())
        except queue.Empty:
            return


def assemble(job: GenerateJob, out: Path) -> None:
    """Merge the finished part files into the dataset file and remove the parts."""
    parts = _parts_dir(out)
    scene = scene_class(job.scene)(job.resolution, job.dt, job.simulations[0].reynolds, job.simulations[0].seed)
    with atomic_h5(out) as handle:
        handle.attrs.update(dataset_attributes(scene, job.frames, len(job.simulations), stored_fields(scene),
                                               {**provenance(), "solver": job.solver}),
                            warmup=job.warmup, solver=job.solver)
        for spec in job.simulations:
            check_room(out, _part_path(parts, spec).stat().st_size)
            with h5py.File(_part_path(parts, spec), "r") as part:
                part.copy(part[sim_name(spec.index)], handle, name=sim_name(spec.index))
    shutil.rmtree(parts)


def check_disk_room(job: GenerateJob, out: Path) -> None:
    """Refuse a dataset that cannot fit on the disk of `out`, where the simulations' part files and the merged
    dataset lie side by side until the parts are removed."""
    cls = scene_class(job.scene)
    raw = frame_bytes(job.resolution, len(cls.fields) + 1) * job.frames * len(job.simulations)
    check_stored_size(f"--frames {job.frames} ({len(job.simulations)} simulation(s) at {job.resolution})", raw,
                      Path(out).absolute().parent, copies=2, detail=", on disk twice while the part files are merged")


def generate(job: GenerateJob, out: Path, workers: int = 1, resume: bool = False, overwrite: bool = False,
             progress: Progress = lambda index, done: None) -> list[SimulationSpec]:
    """Make the dataset `out` for `job`, holding its lock throughout; returns the simulations this call computed
    (not resumed)."""
    if workers < 1:
        raise FluidlossError(f"--workers must be at least 1, got {workers}")
    check_output(out, overwrite)
    check_disk_room(job, out)
    with claim_outputs([out], lambda: check_output(out, overwrite, held=True)):  # again under the lock
        pending = prepare_output(job, out, resume, overwrite)
        run_simulations(job, pending, _parts_dir(out), workers, progress)
        assemble(job, out)
    return pending
