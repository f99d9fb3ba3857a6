"""Every command config in sample_configs/ is a --config for an existing command and names only options of that
command (the study presets, study_*.toml, are checked by tests/test_study.py)."""

import tomllib
from pathlib import Path

import pytest
import typer

from fluidloss_cli.app import app

CONFIGS = Path(__file__).resolve().parents[1] / "sample_configs"


def command_for(config: Path):
    """The click command a sample config belongs to: `train_sol.toml` -> `fluidloss train sol`."""
    command = typer.main.get_command(app)
    for part in config.stem.split("_"):
        command = command.commands[part]
    return command


@pytest.mark.parametrize("config", sorted(c for c in CONFIGS.glob("*.toml") if not c.name.startswith("study_")),
                         ids=lambda p: p.name)
def test_sample_config_keys_are_options_of_its_command(config):
    values = tomllib.loads(config.read_text())
    params = {p.name for p in command_for(config).params}
    unknown = sorted(set(values) - params)
    assert not unknown, f"{config.name}: unknown keys {unknown}"
