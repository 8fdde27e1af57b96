"""VLMHyperBench core: contracts, configuration, registries, orchestration and CLI."""

import importlib.metadata

__version__ = importlib.metadata.version("vlmhb-core")  # from VERSION (metadata)
