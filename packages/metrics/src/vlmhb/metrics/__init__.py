"""VLMHyperBench metrics: metric contract, built-in metrics, aggregation, evaluation stage."""

from vlmhb.metrics.base import Metric, Reference
from vlmhb.metrics.normalize import Normalization

__all__ = ["Metric", "Normalization", "Reference"]
