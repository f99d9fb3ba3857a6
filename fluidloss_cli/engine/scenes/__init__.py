"""Scene registry: a name maps to the class that builds and steps that PhiFlow simulation.

Adding a scene is one module in this package and one line in SCENES.
"""

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.scenes.base import Scene
from fluidloss_cli.engine.scenes.buoyancy import Buoyancy
from fluidloss_cli.engine.scenes.karman import Karman

SCENES: dict[str, type[Scene]] = {
    "karman": Karman,
    "buoyancy": Buoyancy,
}


def scene_class(name: str) -> type[Scene]:
    """Look a scene up by name, with a one-line error that lists the known ones."""
    try:
        return SCENES[name]
    except KeyError:
        raise FluidlossError(f"unknown scene {name!r}: choose one of {', '.join(SCENES)}") from None


__all__ = ["SCENES", "Scene", "scene_class"]
