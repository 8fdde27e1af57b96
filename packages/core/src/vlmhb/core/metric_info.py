"""Metric metadata: which way is better, the range, the unit and the kind of a metric.

Written once per run as ``metrics_schema.json`` (``METRICS_SCHEMA_FILE``) next to the
metrics files by the evaluation stage, read by the reports, the API and the web UI, so
nobody guesses a metric's direction from its name. Quality metrics describe themselves
(``Metric.info()``), speed rows are declared by ``vlmhb.core.speed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import METRICS_SCHEMA_FILE

MetricKind = Literal["quality", "speed", "cost", "reliability"]
SCHEMA_VERSION = 1


class MetricInfo(BaseModel):
    """What one metric (one row of ``metrics_general.csv``) means.

    ``higher_is_better`` is None for values with no "best" (token counts, session
    counts); ``range`` is ``(low, high)``, None where unbounded."""

    name: str
    kind: MetricKind
    higher_is_better: bool | None
    unit: str = ""
    range: tuple[float | None, float | None] = (None, None)
    description: str = ""


class MetricsSchema(BaseModel):
    """``metrics_schema.json``: the metadata of every metric a run's files hold."""

    version: int = SCHEMA_VERSION
    metrics: dict[str, MetricInfo] = Field(default_factory=dict)

    @classmethod
    def of(cls, infos: Iterable[MetricInfo]) -> MetricsSchema:
        """A schema of ``infos`` (the first one of a name wins)."""
        metrics: dict[str, MetricInfo] = {}
        for info in infos:
            metrics.setdefault(info.name, info)
        return cls(metrics=metrics)

    @classmethod
    def merged(cls, schemas: Iterable[MetricsSchema]) -> MetricsSchema:
        """One schema for several runs: every metric, the first run's entry of a name."""
        return cls.of(info for schema in schemas for info in schema.metrics.values())

    def direction(self, name: str) -> bool | None:
        """``higher_is_better`` of ``name``; None when it has none or is not described."""
        info = self.metrics.get(name)
        return info.higher_is_better if info else None

    def kind(self, name: str) -> MetricKind | None:
        info = self.metrics.get(name)
        return info.kind if info else None


def write_metrics_schema(run_dir: Path, schema: MetricsSchema) -> Path:
    """Write ``run_dir/metrics_schema.json`` atomically; its path."""
    path = run_dir / METRICS_SCHEMA_FILE
    atomic_write_text(path, schema.model_dump_json(indent=2) + "\n")
    return path


def read_metrics_schema(run_dir: Path) -> MetricsSchema | None:
    """``run_dir/metrics_schema.json``; None when absent, unreadable or not a schema
    (runs evaluated before the file existed)."""
    path = run_dir / METRICS_SCHEMA_FILE
    try:
        return MetricsSchema.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None
