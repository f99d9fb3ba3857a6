"""Allows `python -m fluidloss_cli`."""

from fluidloss_cli.app import app

app()
