"""VLMHyperBench management backend."""
