"""VLMHyperBench management backend: FastAPI API, database, event fan-out, ``vlmhb serve``."""

import importlib.metadata

__version__ = importlib.metadata.version("vlmhb-backend")  # from VERSION (metadata)
