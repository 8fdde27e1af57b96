"""Resolving a task's metric and aggregation names, checked before any work."""

from __future__ import annotations

from collections.abc import Sequence

from vlmhb.core.errors import ConfigError, UnknownNameError
from vlmhb.core.registry import Registry
from vlmhb.metrics.aggregate import LEVELS
from vlmhb.metrics.base import Metric


def resolve_metrics(
    names: Sequence[str], kind: str, registry: Registry[Metric] | None = None, where: str = "task"
) -> list[Metric]:
    """The metrics called ``names``; ``UnknownNameError`` (did-you-mean) for an unknown
    name, ``ConfigError`` for one that does not apply to task kind ``kind``."""
    if registry is None:
        from vlmhb.core.registries import get_registries

        registry = get_registries().metrics
    for name in names:
        registry.check(name)
    metrics: list[Metric] = []
    for name in dict.fromkeys(names):
        metric = registry.get(name)
        if not isinstance(metric, Metric):
            raise ConfigError(
                f"{where}.metrics",
                f"{name!r} is registered as {type(metric).__name__}, not a vlmhb.metrics Metric",
            )
        if kind not in metric.kinds:
            raise ConfigError(
                f"{where}.metrics",
                f"metric {name!r} applies to {'/'.join(sorted(metric.kinds))} tasks, not {kind!r}",
            )
        metrics.append(metric)
    if not metrics:
        raise ConfigError(f"{where}.metrics", "no metrics listed")
    return metrics


def resolve_levels(names: Sequence[str]) -> list[str]:
    """The aggregation levels, in canonical order; unknown names raise UnknownNameError."""
    for name in names:
        if name not in LEVELS:
            raise UnknownNameError("aggregation", name, list(LEVELS))
    return [level for level in LEVELS if level in names]
