"""VLMHyperBench inference package."""
