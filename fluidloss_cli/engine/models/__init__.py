"""The model registry: a name on the command line -> a network constructor (in_channels, out_channels, ...)."""

from collections.abc import Callable

from torch import nn

from fluidloss_cli.engine.models.sol_net import SolNet

MODELS: dict[str, Callable[..., nn.Module]] = {"sol": SolNet}
