"""Loading the runs of an experiment and the comparison table across them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vlmhb.core.labels import short_run_labels
from vlmhb.core.metric_info import MetricsSchema
from vlmhb.core.registry import Registry
from vlmhb.reporting.loading import ReportInputError, RunData, load_run
from vlmhb.reporting.measured import measured_load
from vlmhb.reporting.tables import Table, best_cells, table_from_frame

IDENTITY_COLUMNS = ["run", "model", "task", "prompt"]
# What each run was measured under (``vlmhb.reporting.measured``): shown, never ranked.
LOAD_COLUMNS = ["concurrency", "request_rate"]
# Timing rows the experiment comparison shows (in the order the runs list them).
COMPARISON_TIMING = frozenset(
    {
        "latency_ms_p50",
        "latency_ms_p99",
        "ttft_ms_p50",
        "tpot_ms_p50",
        "error_rate",
        "throughput_rps",
        "throughput_output_tok_s",
        "goodput_fraction",
        "goodput_rps",
        "peak_rss_mib",
        "peak_gpu_mib",
    }
)


@dataclass
class FailedRun:
    """A run without usable metrics, and why."""

    name: str
    path: Path
    reason: str


@dataclass
class ExperimentData:
    """Runs of one experiment: loaded ones, failed ones and their comparison table.

    ``comparison`` has one row per loaded run (``run;model;task;prompt;concurrency;
    request_rate;<quality metrics>...;<timing metrics>...``, macro values), sorted best
    first by ``sort_metric``. Timing columns are those of ``COMPARISON_TIMING`` the runs
    have (latency p50/p99, TTFT/TPOT p50, error rate, throughput, goodput, memory peaks).
    ``schema`` is the runs' merged metric metadata.
    """

    exp_dir: Path
    runs: list[RunData]
    failed: list[FailedRun]
    comparison: pd.DataFrame
    quality_metrics: list[str]
    timing_metrics: list[str]
    schema: MetricsSchema = field(default_factory=MetricsSchema)

    @property
    def name(self) -> str:
        return self.exp_dir.name

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """``{metric: higher is better}`` of the compared metrics that have a direction."""
        directions = {m: self.schema.direction(m) for m in self.quality_metrics}
        directions |= {m: self.schema.direction(m) for m in self.timing_metrics}
        return {m: d for m, d in directions.items() if d is not None}

    @property
    def sort_metric(self) -> str | None:
        """The first quality metric with a direction: the comparison's sort key."""
        ranked = self.higher_is_better
        return next((m for m in self.quality_metrics if m in ranked), None)

    @property
    def labels(self) -> list[str]:
        """The short label (``model · prompt``) of each comparison row, in its order."""
        frame = self.comparison
        return short_run_labels(
            (str(m), str(p), str(r))
            for m, p, r in zip(frame["model"], frame["prompt"], frame["run"], strict=True)
        )

    def report_link(self, run: str, report_file: str) -> str | None:
        """Relative link from the experiment folder to ``run``'s report, if it exists."""
        for data in self.runs:
            target = data.run_dir / report_file
            if data.name == run and target.is_file():
                return Path(os.path.relpath(target, self.exp_dir)).as_posix()
        return None


def load_experiment(
    exp_dir: Path, run_dirs: Sequence[Path], metrics: Registry[Any] | None = None
) -> ExperimentData:
    """Load every run directory; those without readable metrics are listed as failed.
    ``metrics`` (the experiment's metric registry) describes metrics of runs evaluated
    before ``metrics_schema.json`` existed."""
    runs: list[RunData] = []
    failed: list[FailedRun] = []
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            failed.append(FailedRun(run_dir.name, run_dir, "run directory not found"))
            continue
        try:
            runs.append(load_run(run_dir, metrics))
        except ReportInputError as exc:
            failed.append(FailedRun(run_dir.name, run_dir, exc.reason))
    quality = _union(m for r in runs for m in r.quality_metrics)
    timing = _union(m for r in runs for m in r.timing_metrics if m in COMPARISON_TIMING)
    schema = MetricsSchema.merged(r.schema for r in runs)
    data = ExperimentData(
        exp_dir, runs, failed, comparison_frame(runs, quality, timing), quality, timing, schema
    )
    if data.sort_metric is not None:
        data.comparison = data.comparison.sort_values(
            data.sort_metric,
            ascending=not data.higher_is_better[data.sort_metric],
            kind="stable",
            na_position="last",
        ).reset_index(drop=True)
    return data


def comparison_frame(
    runs: Sequence[RunData], quality: Sequence[str], timing: Sequence[str]
) -> pd.DataFrame:
    """One row per run: identity columns, the load it was measured under (concurrency,
    request rate: ``unlimited`` or requests/s), then macro values of the given metrics."""
    rows = []
    for data in runs:
        model, task, prompt = data.identity
        load = measured_load(data)
        values = data.macro()
        rows.append(
            {"run": data.name, "model": model, "task": task, "prompt": prompt}
            | {
                "concurrency": load.concurrency if load else None,
                "request_rate": load.rate_text if load else None,
            }
            | {m: values.get(m, float("nan")) for m in [*quality, *timing]}
        )
    frame = pd.DataFrame(rows, columns=[*IDENTITY_COLUMNS, *LOAD_COLUMNS, *quality, *timing])
    return frame.astype({"concurrency": "Int64"})


def comparison_table(data: ExperimentData, report_file: str) -> Table:
    """The comparison as a ``Table``: best value per ranked metric column bold, runs
    linked to their ``report_file`` (``report.md`` or ``report.html``)."""
    table = table_from_frame(
        data.comparison, bold=best_cells(data.comparison, data.higher_is_better)
    )
    for row, run in enumerate(data.comparison["run"]):
        link = data.report_link(str(run), report_file)
        if link:
            table.links[(row, 0)] = link
    return table


def compact_comparison_table(data: ExperimentData, report_file: str) -> Table:
    """The comparison for a page: runs by their short label (the full name as the cell's
    title, linked to ``report_file``), no model and prompt columns (the label holds them),
    an arrow after each ranked metric (↑ higher, ↓ lower is better)."""
    directions = data.higher_is_better
    frame = data.comparison.drop(columns=["model", "prompt"]).assign(run=data.labels)
    table = table_from_frame(frame, bold=best_cells(frame, directions))
    for index, column in enumerate(frame.columns):
        if column in directions:
            table.columns[index] = f"{column} {'↑' if directions[column] else '↓'}"
            table.header_titles[index] = f"{'higher' if directions[column] else 'lower'} is better"
    for row, run in enumerate(data.comparison["run"]):
        table.titles[(row, 0)] = str(run)
        link = data.report_link(str(run), report_file)
        if link:
            table.links[(row, 0)] = link
    return table


def failed_table(data: ExperimentData) -> Table:
    return Table(["run", "reason"], [[f.name, f.reason] for f in data.failed])


def _union(names: Iterable[str]) -> list[str]:
    """Distinct names in first-seen order."""
    return list(dict.fromkeys(names))


def experiment_context(data: ExperimentData, comparison: Table) -> dict[str, Any]:
    """Template variables shared by the Markdown and HTML experiment reports
    (``comparison``: the report's form of the comparison table)."""
    sort_metric = data.sort_metric
    return {
        "name": data.name,
        "compared": len(data.runs),
        "comparison": comparison,
        "failed": failed_table(data),
        "sort_metric": sort_metric,
        "sort_higher": data.higher_is_better[sort_metric] if sort_metric else True,
    }
