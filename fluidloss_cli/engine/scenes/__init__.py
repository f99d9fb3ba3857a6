"""Scene registry: a name maps to the `Scene` subclass that builds and steps that PhiFlow simulation.

Adding a scene is one module in this package and one line in SCENES (or, from outside the package, one call of
`register_scene`). The registry itself imports nothing heavy, so the command line can check a scene name before
loading torch and PhiFlow: an entry is a "module:Class" string within this package, loaded on first use, or the
class itself. `scene_class` loads the scene (and configures PhiFlow, once) on first use.
"""

import importlib
from typing import TYPE_CHECKING

from fluidloss_cli.engine.errors import FluidlossError

if TYPE_CHECKING:
    from fluidloss_cli.engine.scenes.base import Scene

SCENES: "dict[str, str | type[Scene]]" = {
    "karman": "karman:Karman",
    "buoyancy": "buoyancy:Buoyancy",
}
"""Scene name -> "module:Class" within this package, or the `Scene` subclass."""

DEFAULTS: dict[str, dict[str, object]] = {
    "karman": {"resolution": "128x64", "frames": 1500, "dt": 1.0, "warmup": 650},
    "buoyancy": {"resolution": "128x128", "frames": 250, "dt": 0.1, "warmup": 0},
}
"""Each scene's defaults, as its class sets them (a test checks they agree), for the help texts: read without loading
PhiFlow."""


def scene_defaults(key: str) -> str:
    """One default of every scene for a help text, e.g. `karman 128x64, buoyancy 128x128`."""
    return ", ".join(f"{name} {values[key]:g}" if isinstance(values[key], float) else f"{name} {values[key]}"
                     for name, values in DEFAULTS.items())


def check_scene(name: str) -> str:
    """The name itself if it is a registered scene, else a one-line error that lists the known ones."""
    if name not in SCENES:
        raise FluidlossError(f"unknown scene {name!r}: choose one of {', '.join(SCENES)}")
    return name


def scene_class(name: str) -> "type[Scene]":
    """Look a scene up by name and load its class, after PhiFlow is configured for fluidloss."""
    from fluidloss_cli.engine.phiflow_setup import configure

    configure()
    entry = SCENES[check_scene(name)]
    if isinstance(entry, str):
        module, cls = entry.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    return entry


def register_scene(name: str, cls: "str | type[Scene]") -> None:
    """Make a scene known by `name` to every command (`generate NAME`, training, evaluation, `simulate NAME`):
    a `Scene` subclass whose `name` is `name`, or a "module:Class" string within this package. Its native step, for
    the default solver, is registered apart (`native.register_native_step`). A name is registered once."""
    if name in SCENES:
        raise FluidlossError(f"scene {name!r} is already registered")
    if not isinstance(cls, str):
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
    SCENES[name] = cls


def unregister_scene(name: str) -> None:
    """Forget a scene registered by `register_scene` (tests, plug-ins that unload)."""
    SCENES.pop(check_scene(name))


__all__ = ["DEFAULTS", "SCENES", "check_scene", "register_scene", "scene_class", "scene_defaults", "unregister_scene"]
