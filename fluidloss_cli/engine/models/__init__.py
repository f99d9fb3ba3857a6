"""The model registry (names in `engine/model_names.py`): a name -> its network class, imported on first use."""

from importlib import import_module

from torch import nn

from fluidloss_cli.engine.errors import FluidlossError
from fluidloss_cli.engine.model_names import MODEL_CLASSES


def model_class(name: str) -> type[nn.Module]:
    """The class of registered model `name`; an unknown name is a one-line error naming the known ones."""
    if name not in MODEL_CLASSES:
        raise FluidlossError(f"unknown model {name!r}; known: {', '.join(MODEL_CLASSES)}")
    cls = MODEL_CLASSES[name].cls
    if isinstance(cls, str):
        module, _, attr = cls.partition(":")
        cls = getattr(import_module(f"fluidloss_cli.engine.models.{module}"), attr)
    return cls


def build(name: str, config: dict) -> nn.Module:
    """A new network: model `name` built from its recorded constructor arguments."""
    return model_class(name)(**config)
