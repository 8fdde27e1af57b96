"""VLMHyperBench metrics package."""
