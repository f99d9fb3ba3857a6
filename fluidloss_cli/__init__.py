"""fluidloss: train and compare fluid-simulation models with physical and perceptual losses."""

__version__ = "0.1.0"
