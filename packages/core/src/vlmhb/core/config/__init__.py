"""Experiment configuration: YAML/JSON and legacy CSV loaders, cross-reference checks."""

from vlmhb.core.config.loader import load_experiment

__all__ = ["load_experiment"]
