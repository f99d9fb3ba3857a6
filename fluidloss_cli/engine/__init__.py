"""The fluidloss engine: simulation, data, models and losses, independent of the command line."""

from fluidloss_cli.engine.losses.lsim import lsim_distance

__all__ = ["lsim_distance"]
