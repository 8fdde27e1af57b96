"""VLMHyperBench data package."""
