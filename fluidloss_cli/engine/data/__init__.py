"""Datasets: the HDF5 schema, writing simulations into it, downsampling, and reading it for training."""
