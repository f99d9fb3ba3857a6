"""Allows `python -m fluidloss_cli`, with the same fixed hash seed as the `fluidloss` command."""

from fluidloss_cli.launcher import main

main()
