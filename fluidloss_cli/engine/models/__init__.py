"""The model registry: a name on the command line -> a network constructor (in_channels, out_channels, ...)."""

from collections.abc import Callable

from torch import nn

from fluidloss_cli.engine.models.autoencoder import Autoencoder
from fluidloss_cli.engine.models.sol_net import SolNet
from fluidloss_cli.engine.models.sr_net import SRNet

MODELS: dict[str, Callable[..., nn.Module]] = {"sol": SolNet, "sr": SRNet, "ae": Autoencoder}
