"""Thin CLI layers: each module parses options, calls the engine and prints."""
