"""VLMHyperBench management backend: FastAPI API, database, event fan-out, ``vlmhb serve``."""

__version__ = "0.2.0"
