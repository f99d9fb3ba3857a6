"""A study's scenes: a `[scenes.NAME]` table checked (known scene, grids, Reynolds numbers where the scene has them,
test simulations apart from the training ones, an out-of-distribution variant of the scene) into a SceneSpec."""

import dataclasses
from dataclasses import dataclass

from fluidloss_cli.engine.defaults import SR_FACTORS
from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.resolution import Resolution, parse_resolution
from fluidloss_cli.engine.study.toml_values import numbers, typed

SCENE_KEYS = {"scene": str, "fine": str, "coarse": str, "frames": int, "warmup": int, "train_re": list, "train_seeds": list,
              "test_re": list, "test_seeds": list, "ood": str}


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the study: grids, frames, and the training and test simulations."""

    name: str
    """The table's name: the scene's name in cell ids and the report."""
    kind: str
    """The registered scene it simulates (the name, unless the table sets `scene`)."""
    fine: Resolution
    coarse: Resolution
    frames: int
    warmup: int
    train_re: tuple[float, ...]
    train_seeds: tuple[int, ...]
    test_re: tuple[float, ...]
    test_seeds: tuple[int, ...]
    ood: str | None = None
    """A variant of the scene (`scenes.variant`) on which every model is also evaluated, with the test simulations'
    Reynolds numbers and seeds: the out-of-distribution test; None for none."""
    fine_from: str | None = None
    """The scene table whose fine data this one shares (`fine_from`: the same simulations downsampled to another
    coarse grid, e.g. 2x SR beside 4x), or None where it generates its own."""

    def data_id(self, role: str, grid: str) -> str:
        """The data cell of a set: `role` train, test or ood, `grid` fine or coarse (fine data shared by
        `fine_from` are the other table's)."""
        return f"data/{self.fine_from if grid == 'fine' and self.fine_from else self.name}/{role}-{grid}"

    @property
    def train_simulations(self) -> int:
        return max(len(self.train_re), 1) * len(self.train_seeds)

    @property
    def test_simulations(self) -> int:
        return max(len(self.test_re), 1) * len(self.test_seeds)


def check_grids(where: str, fine: Resolution, coarse: Resolution) -> None:
    """Raise unless the fine grid is the coarse one times 2 or 4 on both axes."""
    if fine.height % coarse.height or fine.width % coarse.width or fine.height // coarse.height != \
            fine.width // coarse.width or fine.height // coarse.height not in SR_FACTORS:
        raise FluidlossError(f"{where}: fine {fine} must be coarse {coarse} times 2 or 4 on both axes")


def parse_shared_scene(name: str, data: dict, scenes: dict[str, SceneSpec]) -> SceneSpec:
    """A `[scenes.NAME]` table of `fine_from` and `coarse` alone: the fine data (simulations, frames, grid, `ood`)
    of the table `fine_from` (one defined above it, generating its own), downsampled to another coarse grid."""
    where = f"scenes.{name}"
    data = typed(where, data, {"fine_from": str, "coarse": str}, ("fine_from", "coarse"))
    source = scenes.get(data["fine_from"])
    if source is None or source.fine_from:
        raise FluidlossError(f"{where}.fine_from: name a scene table above it that generates its own data "
                             f"({', '.join(n for n, s in scenes.items() if not s.fine_from) or 'none yet'})")
    coarse = parse_resolution(data["coarse"], f"{where}.coarse")
    check_grids(where, source.fine, coarse)
    if coarse == source.coarse:
        raise FluidlossError(f"{where}: coarse {coarse} is {source.name}'s own: the table would repeat it")
    return dataclasses.replace(source, name=name, coarse=coarse, fine_from=source.name)


def parse_scene(name: str, data: dict) -> SceneSpec:
    """One `[scenes.NAME]` table, checked: known scene, resolutions, Reynolds numbers only where the scene has
    them, test simulations that share neither a seed nor a Reynolds number with any training simulation, and an
    `ood` scene that is a variant of the scene."""
    from fluidloss_cli.engine.scenes import SCENES, check_scene, same_family

    where = f"scenes.{name}"
    data = typed(where, data, SCENE_KEYS, ("fine", "coarse", "frames", "train_seeds", "test_seeds"))
    kind = data.get("scene", name)
    check_scene(kind)
    fine, coarse = (parse_resolution(data[key], f"{where}.{key}") for key in ("fine", "coarse"))
    check_grids(where, fine, coarse)
    train_re, test_re = (numbers(f"{where}.{k}", data.get(k, []), float) for k in ("train_re", "test_re"))
    train_seeds, test_seeds = (numbers(f"{where}.{k}", data[k], int) for k in ("train_seeds", "test_seeds"))
    if not train_seeds or not test_seeds:
        raise FluidlossError(f"{where}: train_seeds and test_seeds need at least one seed each")
    for key, seeds in (("train_seeds", train_seeds), ("test_seeds", test_seeds)):
        if len(set(seeds)) < len(seeds):
            raise FluidlossError(f"{where}.{key} names a seed twice: {list(seeds)}")
    has_re = scene_has_reynolds(kind)
    if has_re and (not train_re or not test_re):
        raise FluidlossError(f"{where}: {kind} needs train_re and test_re (its Reynolds numbers)")
    if not has_re and (train_re or test_re):
        raise FluidlossError(f"{where}: {kind} has no Reynolds number; remove train_re and test_re")
    shared_seeds = sorted(set(train_seeds) & set(test_seeds))
    shared_re = sorted(set(train_re) & set(test_re))
    if shared_seeds or shared_re:
        shared = [f"seed {', '.join(map(str, shared_seeds))}"] * bool(shared_seeds) + \
                 [f"Re {', '.join(f'{r:g}' for r in shared_re)}"] * bool(shared_re)
        raise FluidlossError(f"{where}: test simulations must differ from every training one in seed and Re, but "
                             f"both use {' and '.join(shared)}")
    ood = data.get("ood")
    if ood is not None and (check_scene(ood) == kind or not same_family(kind, ood)):
        raise FluidlossError(f"{where}.ood: {ood} is not a variant of {kind} (the variants: "
                             f"{', '.join(n for n in SCENES if n != kind and same_family(kind, n)) or 'none'})")
    frames, warmup = data["frames"], data.get("warmup", 0)
    if frames < 3 or warmup < 0:
        raise FluidlossError(f"{where}: frames must be at least 3 and warmup at least 0, got {frames} and {warmup}")
    return SceneSpec(name, kind, fine, coarse, frames, warmup, train_re, train_seeds, test_re, test_seeds, ood)


def scene_has_reynolds(name: str) -> bool:
    """Whether a scene is parametrised by a Reynolds number (karman) or not (buoyancy)."""
    from fluidloss_cli.engine.scenes import scene_class

    return scene_class(name).reynolds_range is not None
