"""Scene registry: a name maps to the `Scene` subclass that builds and steps that PhiFlow simulation.

Adding a scene is one module in this package and one line in SCENES, with its defaults (or, from outside the package,
one call of `register_scene`). A *variant* of a scene (`variant`) changes its geometry only (another obstacle, another
source): it has its own name and data, its base's defaults, native step and models: a model trained on one scene of a
family is evaluated on every other (the out-of-distribution test of a study). The registry itself imports nothing heavy, so the command line can check a scene name before
loading torch and PhiFlow: an entry is a "module:Class" string within this package, loaded on first use, or the
class itself. `scene_class` loads the scene (and configures PhiFlow, once) on first use.
"""

import importlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fluidloss_cli.engine.errors import FluidlossError

if TYPE_CHECKING:
    from fluidloss_cli.engine.scenes.base import Scene

@dataclass(frozen=True)
class SceneEntry:
    """A registered scene: its class, and the defaults `generate` uses for it, read by help texts without loading
    PhiFlow (the class takes its `default_*` attributes from here: `declared_defaults`)."""

    cls: "str | type[Scene]"
    """A "module:Class" string within this package, or the `Scene` subclass."""
    resolution: str
    frames: int
    dt: float
    warmup: int = 0
    variant_of: str | None = None
    """The scene this one varies (same physics and grids, another geometry), or None for a scene of its own."""


def variant(base: str, cls: str) -> SceneEntry:
    """The entry of a variant of the registered scene `base`: its class, and `base`'s defaults."""
    return replace(SCENES[base], cls=cls, variant_of=base)


SCENES: dict[str, SceneEntry] = {
    "karman": SceneEntry("karman:Karman", "128x64", frames=1500, dt=1.0, warmup=650),
    "buoyancy": SceneEntry("buoyancy:Buoyancy", "128x128", frames=250, dt=0.1),
}
"""Scene name -> its class and defaults."""
SCENES |= {
    "karman-wide-cylinder": variant("karman", "karman:WideCylinderKarman"),
    "buoyancy-narrow-source": variant("buoyancy", "buoyancy:NarrowSourceBuoyancy"),
}


def declared_defaults(name: str) -> tuple[str, float, int, int]:
    """(default_resolution, default_dt, default_frames, default_warmup) of a scene as SCENES declares them."""
    entry = SCENES[name]
    return entry.resolution, entry.dt, entry.frames, entry.warmup


def scene_defaults(key: str) -> str:
    """One default of every scene for a help text, e.g. `karman 128x64, buoyancy 128x128` (a variant's are its
    base's)."""
    return ", ".join(f"{name} {getattr(entry, key):g}" if isinstance(getattr(entry, key), float)
                     else f"{name} {getattr(entry, key)}" for name, entry in SCENES.items() if not entry.variant_of)


def scene_names() -> str:
    """The registered scenes for a help text: `karman, buoyancy`."""
    return ", ".join(SCENES)


def check_scene(name: str) -> str:
    """The name itself if it is a registered scene, else a one-line error that lists the known ones."""
    if name not in SCENES:
        raise FluidlossError(f"unknown scene {name!r}: choose one of {', '.join(SCENES)}")
    return name


def scene_family(name: str) -> str:
    """The scene a registered scene is a variant of, else its own name: models apply across one family."""
    return SCENES[check_scene(name)].variant_of or name


def same_family(trained: str, data: str) -> bool:
    """Whether a model trained on scene `trained` applies to data of scene `data` (one is a variant of the other,
    or both vary one scene)."""
    return scene_family(trained) == scene_family(data)


def scene_class(name: str) -> "type[Scene]":
    """Look a scene up by name and load its class, after PhiFlow is configured for fluidloss."""
    from fluidloss_cli.engine.phiflow_setup import configure

    configure()
    entry = SCENES[check_scene(name)].cls
    if isinstance(entry, str):
        module, cls = entry.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    return entry


def register_scene(name: str, cls: "type[Scene]", variant_of: str | None = None) -> None:
    """Make a scene known by `name` to every command (`generate NAME`, training, evaluation, `simulate NAME`):
    a `Scene` subclass whose `name` is `name` (its `default_*` attributes become the help's). Its native step, for
    the default solver, is registered apart (`native.register_native_step`); a variant (`variant_of`, a registered
    scene whose subclass `cls` is) runs its base's. A name is registered once."""
    if name in SCENES:
        raise FluidlossError(f"scene {name!r} is already registered")
    if variant_of is not None and not issubclass(cls, scene_class(variant_of)):
        raise FluidlossError(f"scene {name!r}: a variant of {variant_of!r} must subclass its class")
    from fluidloss_cli.engine.scenes.base import Scene

    if not (isinstance(cls, type) and issubclass(cls, Scene)):
        raise FluidlossError(f"scene {name!r}: {cls!r} is not a Scene subclass")
    if getattr(cls, "name", None) != name:
        raise FluidlossError(f"scene {name!r}: the class's name is {getattr(cls, 'name', None)!r}")
    if not cls.fields or cls.fields[0] != "velocity" or not set(cls.fields) <= {"velocity", "density"}:
        raise FluidlossError(f"scene {name!r}: fields must be ('velocity',) or ('velocity', 'density'), "
                             f"got {cls.fields!r}")
    if not set(cls.passive_fields) <= set(cls.fields) - {"velocity"}:
        raise FluidlossError(f"scene {name!r}: passive_fields {cls.passive_fields!r} must be fields besides "
                             "velocity")
    SCENES[name] = SceneEntry(cls, cls.default_resolution, cls.default_frames, cls.default_dt, cls.default_warmup,
                              variant_of)


def unregister_scene(name: str) -> None:
    """Forget a scene registered by `register_scene` (tests, plug-ins that unload)."""
    SCENES.pop(check_scene(name))


__all__ = ["SCENES", "SceneEntry", "check_scene", "declared_defaults", "register_scene", "same_family", "scene_class",
           "scene_defaults", "scene_family", "scene_names", "unregister_scene", "variant"]
