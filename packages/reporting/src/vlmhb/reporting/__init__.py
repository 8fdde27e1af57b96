"""VLMHyperBench reporting package."""
