"""Extensions from outside the package, loaded by every `fluidloss` process: FLUIDLOSS_PLUGINS names modules (or
`module:function`, called without arguments) that register losses, models, training options or scenes. The command
line loads them before it builds its commands, and so does every study worker, so that the cells of a study (and its
Slurm jobs, which inherit the environment) know what the user's own code registers."""

import os
from importlib import import_module

from fluidloss_cli.engine.errors import FluidlossError

PLUGINS_VARIABLE = "FLUIDLOSS_PLUGINS"
_loaded: set[str] = set()


def load_plugins() -> None:
    """Import each comma-separated entry of FLUIDLOSS_PLUGINS once per process (calling its function, if named); a
    module that cannot be imported or a function it lacks is a one-line error naming the variable."""
    for entry in (item.strip() for item in os.environ.get(PLUGINS_VARIABLE, "").split(",")):
        if not entry or entry in _loaded:
            continue
        name, _, function = entry.partition(":")
        try:
            module = import_module(name)
        except Exception as exc:  # a plugin's own import error, whatever its type, is the user's to read in one line
            raise FluidlossError(f"{PLUGINS_VARIABLE}: cannot import {name!r}: {type(exc).__name__}: {exc}") from None
        if function:
            if not callable(getattr(module, function, None)):
                raise FluidlossError(f"{PLUGINS_VARIABLE}: {name!r} has no function {function!r}")
            getattr(module, function)()
        _loaded.add(entry)
