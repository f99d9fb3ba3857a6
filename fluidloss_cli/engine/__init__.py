"""The fluidloss engine: simulation, data, models and losses, independent of the command line.

Importing the package loads nothing heavy; torch and PhiFlow come in with the modules that use them.
"""
