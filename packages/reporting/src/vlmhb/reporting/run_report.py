"""The content of a run report, formatted once for both Markdown and HTML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vlmhb.core.metric_info import MetricsSchema
from vlmhb.reporting.loading import RunData
from vlmhb.reporting.measured import measured_load
from vlmhb.reporting.tables import Table, key_value_table, table_from_frame

BY_ID_FIXED = ("id", "doc_class", "question_type", "answer", "model_answer", "error")
GENERAL_HEADERS = {
    "metric": "metric",
    "macro": "macro",
    "micro": "micro",
    "ci95_low": "CI95 low",
    "ci95_high": "CI95 high",
    "n": "n",
}
TEXT_CELL_CHARS = 80


@dataclass
class RunReport:
    """Sections of a run report; an absent optional input gives ``None``/empty tables."""

    title: str
    spec: Table
    manifest: Table
    general: Table
    speed: Table
    by_doc_type: Table | None
    by_doc_question: Table | None
    worst_metric: str | None
    worst: Table | None
    problems_count: int
    problems: Table | None
    notes: list[str] = field(default_factory=list)


def build_run_report(data: RunData, worst_n: int = 10, problems_n: int = 10) -> RunReport:
    """Assemble the report sections from ``data`` (directions and units from
    ``data.schema``)."""
    general = data.general
    is_quality = general["metric"].isin(data.quality_metrics)
    general_columns = [c for c in GENERAL_HEADERS if c in general.columns]
    quality = general.loc[is_quality, general_columns]
    if "n" in quality.columns:  # integer counts, though timing rows leave the column empty
        quality = quality.assign(n=pd.to_numeric(quality["n"], errors="coerce").astype("Int64"))
    quality = quality.rename(columns=GENERAL_HEADERS).assign(
        better=[better_word(data.schema, m) for m in quality["metric"]]
    )
    speed = general.loc[~is_quality, ["metric", "macro"]].rename(columns={"macro": "value"})
    speed = speed.assign(
        unit=[_unit(data.schema, m) for m in speed["metric"]],
        better=[better_word(data.schema, m) for m in speed["metric"]],
    )
    worst_metric, worst = _worst_samples(data, worst_n)
    problems = data.problems if data.problems is not None else pd.DataFrame()
    return RunReport(
        title=data.label,
        spec=key_value_table(spec_summary(data), ("field", "value")),
        manifest=key_value_table(_manifest_summary(data.manifest), ("field", "value")),
        general=table_from_frame(quality),
        speed=table_from_frame(speed),
        by_doc_type=_optional_table(data.by_doc_type),
        by_doc_question=_optional_table(data.by_doc_question),
        worst_metric=worst_metric,
        worst=worst,
        problems_count=len(problems),
        problems=table_from_frame(problems.head(problems_n), max_chars=TEXT_CELL_CHARS)
        if len(problems)
        else None,
        notes=list(data.notes),
    )


def better_word(schema: MetricsSchema, metric: str) -> str:
    """``higher`` / ``lower`` (is better), empty for a metric without a direction."""
    direction = schema.direction(metric)
    return "" if direction is None else "higher" if direction else "lower"


def _unit(schema: MetricsSchema, metric: str) -> str:
    info = schema.metrics.get(metric)
    return info.unit if info else ""


def load_summary(data: RunData) -> list[tuple[str, Any]]:
    """The load the run was measured under (``MeasuredLoad.pairs``)."""
    load = measured_load(data)
    return [] if load is None else load.pairs()


def spec_summary(data: RunData) -> list[tuple[str, Any]]:
    """``(field, value)`` pairs describing the run (from ``run.json`` when present) and
    the load it was measured under."""
    spec = data.spec
    if spec is None:
        names = data.identity
        named = [("run", data.name), ("model", names[0]), ("task", names[1])]
        return [*named, ("prompt", names[2]), *load_summary(data)]
    model = spec.model
    pairs: list[tuple[str, Any]] = [
        ("experiment", spec.experiment),
        ("run", data.name),
        ("run id", spec.run_id),
        ("model", model.name),
        ("backend", model.backend),
    ]
    pairs += [
        (key, value)
        for key, value in (
            ("model path", model.model_path),
            ("served model", model.model),
            ("base url", model.base_url),
        )
        if value
    ]
    pairs += [
        ("task", f"{spec.task.name} ({spec.task.kind})"),
        ("metrics", ", ".join(spec.task.metrics or [])),
        ("image region", spec.task.image_region),
        (
            "dataset",
            f"{spec.dataset.name} ({spec.dataset.format}"
            + (f", split {spec.dataset.split})" if spec.dataset.split else ")"),
        ),
        (
            "prompt",
            f"{spec.prompt.label} (sha256 {spec.prompt.sha256[:12]})" if spec.prompt else "default",
        ),
        (
            "generation",
            f"max_tokens={spec.generation.max_tokens}, temperature={spec.generation.temperature}",
        ),
        *load_summary(data),
    ]
    return pairs


def _manifest_summary(manifest: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The scalar top-level entries of ``manifest.json`` (nested parts are left out)."""
    return [
        (str(k), v)
        for k, v in manifest.items()
        if isinstance(v, str | int | float | bool) and v != ""
    ]


def _optional_table(frame: pd.DataFrame | None) -> Table | None:
    return table_from_frame(frame) if frame is not None and len(frame) else None


def first_metric(data: RunData) -> str | None:
    """The first quality metric of ``metrics_general.csv`` with a direction that
    ``metrics_by_id.csv`` has."""
    if data.by_id is None:
        return None
    for metric in data.quality_metrics:
        if metric in data.by_id.columns and data.schema.direction(metric) is not None:
            return metric
    return None


def _worst_samples(data: RunData, limit: int) -> tuple[str | None, Table | None]:
    """The ``limit`` worst samples by the first metric that has a direction."""
    metric = first_metric(data)
    better_high = None if metric is None else data.schema.direction(metric)
    if metric is None or better_high is None or data.by_id is None or not len(data.by_id):
        return metric, None
    frame = data.by_id.assign(**{metric: pd.to_numeric(data.by_id[metric], errors="coerce")})
    worst = frame.sort_values(metric, ascending=better_high, kind="stable", na_position="last")
    columns = [c for c in BY_ID_FIXED if c in worst.columns] + [metric]
    return metric, table_from_frame(worst.head(limit)[columns], max_chars=TEXT_CELL_CHARS)
