"""The metric metadata a report uses: direction, unit, range and kind of each metric.

A run evaluated now carries ``metrics_schema.json`` (written by the evaluation stage) and
that is used as it is. A run evaluated before the file existed gets the same metadata
from where the evaluation stage takes it: the metric registry (``Metric.info()`` of the
metric, including registry-folder variants) for quality metrics and
``vlmhb.core.speed.SPEED_ROWS`` for speed rows. A name found in neither is described
as a quality metric with no direction: it is shown but never ranked (no bold best
value, not a sort key). Nothing is guessed from a metric's name.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlmhb.core.errors import VlmhbError
from vlmhb.core.metric_info import MetricInfo, MetricsSchema, read_metrics_schema
from vlmhb.core.registries import get_registries
from vlmhb.core.registry import Registry
from vlmhb.core.rundir import RunDir
from vlmhb.core.speed import SPEED_ROWS

UNDESCRIBED = "not described: evaluated before metrics_schema.json, not a registered metric"


def run_schema(
    run_dir: Path, names: Sequence[str], metrics: Registry[Any] | None = None
) -> MetricsSchema:
    """The metadata of ``names`` (the run's metrics): its ``metrics_schema.json``, with the
    fallback (``metrics``: the run's metric registry, default the process's) for names
    the file lacks or for every name when there is no file."""
    stored = read_metrics_schema(run_dir) or MetricsSchema()
    missing = [name for name in names if name not in stored.metrics]
    return MetricsSchema.merged([stored, fallback_schema(missing, metrics)])


def stored_schema(run_dir: Path, metrics: Registry[Any] | None = None) -> MetricsSchema:
    """``run_dir``'s metric metadata without loading its report inputs (the API):
    ``run_schema`` of ``metrics_general.csv``'s metric names; empty before the run is
    evaluated (or when that file is unreadable and there is no ``metrics_schema.json``)."""
    try:
        rows = RunDir(run_dir).read_metric_rows("general")
    except (OSError, ValueError, csv.Error):  # UnicodeDecodeError is a ValueError
        rows = []
    return run_schema(run_dir, [row["metric"] for row in rows if row.get("metric")], metrics)


def fallback_schema(names: Sequence[str], metrics: Registry[Any] | None = None) -> MetricsSchema:
    """The metadata of ``names`` from the speed rows and the metric registry (module
    docstring)."""
    registry = metrics if metrics is not None else get_registries().metrics
    return MetricsSchema.of(_describe(str(name), registry) for name in names)


def _describe(name: str, registry: Registry[Any]) -> MetricInfo:
    if name in SPEED_ROWS:
        return SPEED_ROWS[name]
    if name in registry:
        try:
            info: MetricInfo = registry.get(name).info()
            return info
        except VlmhbError:  # a variant whose options no longer load: not described
            pass
    return MetricInfo(name=name, kind="quality", higher_is_better=None, description=UNDESCRIBED)
