"""Fixtures for the loss and weight tests: an isolated weight lookup with the real LSiM.pth, and ImageNet-shaped
backbone files built here from random weights (the real ImageNet files are not available offline)."""

import functools
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torchvision

SHARED = Path(__file__).resolve().parents[2] / "shared"

BACKBONE_FILES = {
    "vgg16-397923af.pth": torchvision.models.vgg16,
    "alexnet-owt-7be5be79.pth": torchvision.models.alexnet,
    "squeezenet1_1-b8a52dc0.pth": torchvision.models.squeezenet1_1,
}


def shared_file(*parts: str) -> Path:
    """A file of the shared folder beside the repository; missing, it skips the test (fails it under CI)."""
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{path} is missing (the shared folder beside the repo)")
    return path


@functools.cache
def _backbone_hub(root: Path) -> Path:
    """Build the hub once per session, although every test module that imports the fixture owns a copy of it."""
    checkpoints = root / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    for filename, build in BACKBONE_FILES.items():
        torch.save(build(weights=None).state_dict(), checkpoints / filename)
    return root


@pytest.fixture(scope="session")
def backbone_hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TORCH_HOME whose hub cache holds VGG-16, AlexNet and SqueezeNet files of random weights, under the names
    of the official ones (their SHA-256 therefore does not match)."""
    return _backbone_hub(tmp_path_factory.getbasetemp() / "torch_home")


@pytest.fixture
def weights_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Point every weight lookup at empty temporary folders, then link the official LSiM.pth into
    FLUIDLOSS_WEIGHTS_DIR; torchvision files are absent unless a test adds them."""
    env = SimpleNamespace(weights=tmp_path / "weights", cache=tmp_path / "xdg", torch_home=tmp_path / "torch")
    for var, path in [("FLUIDLOSS_WEIGHTS_DIR", env.weights), ("XDG_CACHE_HOME", env.cache),
                      ("TORCH_HOME", env.torch_home)]:
        path.mkdir()
        monkeypatch.setenv(var, str(path))
    (env.weights / "LSiM.pth").symlink_to(shared_file("weights", "LSiM.pth"))
    return env


@pytest.fixture
def backbones_env(weights_env: SimpleNamespace, backbone_hub: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """`weights_env` plus the random-weight backbone files in torch's hub cache."""
    monkeypatch.setenv("TORCH_HOME", str(backbone_hub))
    weights_env.checkpoints = backbone_hub / "hub" / "checkpoints"
    return weights_env
