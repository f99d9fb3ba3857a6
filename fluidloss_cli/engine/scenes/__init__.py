"""Scene registry: a name maps to the module and class that build and step that PhiFlow simulation.

Adding a scene is one module in this package and one line in SCENES. The registry itself imports nothing heavy, so the
command line can check a scene name before loading torch and PhiFlow; `scene_class` loads the scene (and configures
PhiFlow, once) on first use.
"""

import importlib
from typing import TYPE_CHECKING

from fluidloss_cli.engine.errors import FluidlossError

if TYPE_CHECKING:
    from fluidloss_cli.engine.scenes.base import Scene

SCENES: dict[str, str] = {
    "karman": "karman:Karman",
    "buoyancy": "buoyancy:Buoyancy",
}
"""Scene name -> "module:Class" within this package."""

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
    module, cls = SCENES[check_scene(name)].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


__all__ = ["DEFAULTS", "SCENES", "check_scene", "scene_class", "scene_defaults"]
