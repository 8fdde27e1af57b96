"""The evaluation stage: scores ``answers.csv`` against ``samples.jsonl`` and writes the
metrics files of the run directory and ``metrics_schema.json`` (their metadata)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import pandas as pd

from vlmhb.core.contracts import StageResult, StageTask, TaskState
from vlmhb.core.errors import ConfigError, VlmhbError
from vlmhb.core.files import (
    ANSWERS_FILE,
    METRICS_FILES,
    METRICS_SCHEMA_FILE,
    SAMPLES_FILE,
    V01_METRICS_FILES,
)
from vlmhb.core.metric_info import MetricsSchema, write_metrics_schema
from vlmhb.core.registry import Registry
from vlmhb.core.rundir import RunDir
from vlmhb.core.speed import SPEED_ROWS
from vlmhb.core.stages import StageContext
from vlmhb.core.tasks import fill_task_defaults
from vlmhb.metrics.aggregate import level_tables, v01_tables
from vlmhb.metrics.base import Metric
from vlmhb.metrics.runfiles import read_answers, read_samples, write_csv_atomic
from vlmhb.metrics.scoring import score_table
from vlmhb.metrics.selection import resolve_levels, resolve_metrics


class MissingAnswersError(VlmhbError):
    """Some samples have no row in answers.csv: inference has not finished."""


def metrics_schema(metrics: Sequence[Metric], tables: Mapping[str, pd.DataFrame]) -> MetricsSchema:
    """The metadata of every metric the tables hold: each quality metric's own
    (``Metric.info``), each speed row's from ``vlmhb.core.speed.SPEED_ROWS``."""
    quality = [metric.info() for metric in metrics]
    names = {info.name for info in quality}
    general = tables.get("general")
    rows = [] if general is None else [str(m) for m in general["metric"] if m not in names]
    return MetricsSchema.of([*quality, *(SPEED_ROWS[name] for name in rows)])


class EvaluationStage:
    """Stage ``evaluation``: idempotent, reads only the run directory's files."""

    def __init__(self, registry: Registry[Metric] | None = None, seed: int = 0) -> None:
        self.registry = registry
        self.seed = seed

    def run(self, task: StageTask, ctx: StageContext) -> StageResult:
        started = time.monotonic()
        if task.run is None:
            raise ConfigError(f"stage task {task.id}", "evaluation needs a run (task.run)")
        spec = task.run.task
        fill_task_defaults([spec], ctx.registries.tasks)  # a task built in code, unplanned
        registry = self.registry or ctx.registries.metrics
        metrics = resolve_metrics(spec.metrics or [], spec.kind, registry, f"task {spec.name!r}")
        levels = resolve_levels(spec.aggregations or [])
        slo = task.run.model.load.slo  # parsed by LoadSpec (vlmhb.core.speed.parse_slo)
        for metric in metrics:
            options = ", ".join(metric.normalization.enabled()) or "none"
            ctx.log(
                f"metric {metric.name}: {metric.description or type(metric).__name__}; "
                f"normalisation: {options}"
            )

        samples, problems = read_samples(task.run_dir / SAMPLES_FILE)
        answers, answer_problems = read_answers(task.run_dir / ANSWERS_FILE)
        problems += answer_problems
        missing = [s.id for s in samples if s.id not in answers]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise MissingAnswersError(
                f"{task.run_dir / ANSWERS_FILE}: {len(missing)} of {len(samples)} samples "
                f"have no answer row (ids: {shown}); finish the inference stage first"
            )
        known = {s.id for s in samples}
        for extra in (row_id for row_id in answers if row_id not in known):
            ctx.log(f"{ANSWERS_FILE}: answer id {extra!r} is not in {SAMPLES_FILE}, ignored")

        table, score_problems = score_table(samples, answers, metrics, spec.kind, ctx.progress)
        problems += score_problems
        for problem in problems:
            ctx.log(str(problem))
        scored_answers = [answers[s.id] for s in samples]
        tables = level_tables(
            table,
            metrics,
            scored_answers,
            levels,
            seed=self.seed,
            stats=RunDir(task.run_dir).read_stats(),
            slo=slo,
        )
        for level, frame in tables.items():
            write_csv_atomic(frame, task.run_dir / METRICS_FILES[level])
        v01 = v01_tables(tables, metrics) if spec.metric_columns == "v0.1" else {}
        for level, frame in v01.items():
            write_csv_atomic(frame, task.run_dir / V01_METRICS_FILES[level])
        write_metrics_schema(task.run_dir, metrics_schema(metrics, tables))

        summary: dict[str, float | None] = {}
        if "general" in tables:
            general = dict(
                zip(tables["general"]["metric"], tables["general"]["macro"], strict=True)
            )
            for metric in metrics:
                value = float(general[metric.name])
                summary[metric.name] = None if math.isnan(value) else value
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.COMPLETED,
            outputs=[
                *(METRICS_FILES[level] for level in tables),
                *(V01_METRICS_FILES[level] for level in v01),
                METRICS_SCHEMA_FILE,
            ],
            message=f"{len(samples)} samples scored; {len(problems)} problem rows reported",
            summary=summary,
            duration_s=time.monotonic() - started,
        )
