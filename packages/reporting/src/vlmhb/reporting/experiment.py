"""Loading the runs of an experiment and the comparison table across them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vlmhb.reporting.loading import ReportInputError, RunData, load_run
from vlmhb.reporting.metric_names import COMPARISON_TIMING, directions, has_direction
from vlmhb.reporting.tables import Table, best_cells, table_from_frame

COMPARISON_FILE = "comparison.csv"
IDENTITY_COLUMNS = ["run", "model", "task", "prompt"]


@dataclass
class FailedRun:
    """A run without usable metrics, and why."""

    name: str
    path: Path
    reason: str


@dataclass
class ExperimentData:
    """Runs of one experiment: loaded ones, failed ones and their comparison table.

    ``comparison`` has one row per loaded run (``run;model;task;prompt;<quality
    metrics>...;<timing metrics>...``, macro values), sorted best first by the first
    quality metric. Timing columns are those of ``COMPARISON_TIMING`` the runs have
    (latency p50/p99, TTFT/TPOT p50, error rate, throughput, goodput, memory peaks).
    """

    exp_dir: Path
    runs: list[RunData]
    failed: list[FailedRun]
    comparison: pd.DataFrame
    quality_metrics: list[str]
    timing_metrics: list[str]
    higher_is_better: dict[str, bool] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.exp_dir.name

    def report_link(self, run: str, report_file: str) -> str | None:
        """Relative link from the experiment folder to ``run``'s report, if it exists."""
        for data in self.runs:
            target = data.run_dir / report_file
            if data.name == run and target.is_file():
                return Path(os.path.relpath(target, self.exp_dir)).as_posix()
        return None


def load_experiment(
    exp_dir: Path,
    run_dirs: Sequence[Path],
    higher_is_better: Mapping[str, bool] | None = None,
) -> ExperimentData:
    """Load every run directory; those without readable metrics are listed as failed."""
    runs: list[RunData] = []
    failed: list[FailedRun] = []
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            failed.append(FailedRun(run_dir.name, run_dir, "run directory not found"))
            continue
        try:
            runs.append(load_run(run_dir))
        except ReportInputError as exc:
            failed.append(FailedRun(run_dir.name, run_dir, exc.reason))
    quality = _union(m for r in runs for m in r.quality_metrics)
    timing = _union(m for r in runs for m in r.timing_metrics if m in COMPARISON_TIMING)
    direction = directions(quality + timing, higher_is_better)
    comparison = comparison_frame(runs, quality, timing)
    if quality:
        comparison = comparison.sort_values(
            quality[0], ascending=not direction[quality[0]], kind="stable", na_position="last"
        ).reset_index(drop=True)
    return ExperimentData(exp_dir, runs, failed, comparison, quality, timing, direction)


def comparison_frame(
    runs: Sequence[RunData], quality: Sequence[str], timing: Sequence[str]
) -> pd.DataFrame:
    """One row per run: identity columns then macro values of the given metrics."""
    rows = []
    for data in runs:
        model, task, prompt = data.identity
        values = data.macro()
        rows.append(
            {"run": data.name, "model": model, "task": task, "prompt": prompt}
            | {m: values.get(m, float("nan")) for m in [*quality, *timing]}
        )
    return pd.DataFrame(rows, columns=[*IDENTITY_COLUMNS, *quality, *timing])


def comparison_table(data: ExperimentData, report_file: str) -> Table:
    """The comparison as a ``Table``: best value per metric column bold, runs linked to
    their ``report_file`` (``report.md`` or ``report.html``)."""
    ranked = {m: hib for m, hib in data.higher_is_better.items() if has_direction(m)}
    table = table_from_frame(data.comparison, bold=best_cells(data.comparison, ranked))
    for row, run in enumerate(data.comparison["run"]):
        link = data.report_link(str(run), report_file)
        if link:
            table.links[(row, 0)] = link
    return table


def failed_table(data: ExperimentData) -> Table:
    return Table(["run", "reason"], [[f.name, f.reason] for f in data.failed])


def _union(names: Iterable[str]) -> list[str]:
    """Distinct names in first-seen order."""
    return list(dict.fromkeys(names))


def experiment_context(data: ExperimentData, report_file: str) -> dict[str, Any]:
    """Template variables shared by the Markdown and HTML experiment reports."""
    sort_metric = data.quality_metrics[0] if data.quality_metrics else None
    return {
        "name": data.name,
        "compared": len(data.runs),
        "comparison": comparison_table(data, report_file),
        "failed": failed_table(data),
        "sort_metric": sort_metric,
        "sort_higher": data.higher_is_better.get(sort_metric, True) if sort_metric else True,
    }
