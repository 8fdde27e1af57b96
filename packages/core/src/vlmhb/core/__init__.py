"""VLMHyperBench core: contracts, configuration, registries, orchestration and CLI."""

__version__ = "0.2.0"
