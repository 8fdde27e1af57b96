"""The tables ``vlmhb run`` ends with: one per task, a row per run (``model · prompt``,
folded when long) and a column per metric of the task (macro averages from the evaluation
results, ↑/↓ and the best value in bold from the runs' metric metadata). Metrics that do
not fit the console's width are named below the table with the file that holds them all.
A run whose stages did not all succeed says under its name which stage ended how.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vlmhb.core.contracts import RunSpec, StageName, StageResult, TaskState
from vlmhb.core.files import COMPARISON_FILE, METRICS_FILES
from vlmhb.core.labels import short_run_labels
from vlmhb.core.metric_info import MetricsSchema, read_metrics_schema
from vlmhb.core.orchestration.orchestrator import ExperimentOutcome

RUN_STAGES = (StageName.INFERENCE, StageName.EVALUATION, StageName.REPORT)
SUCCESS = (TaskState.COMPLETED, TaskState.SKIPPED)
LABEL_MAX = 32  # a longer run label folds onto a second line
CELL_PAD = 3  # a column's padding and its border in Rich's default box
MISSING = "—"


@dataclass
class RunRow:
    """One run of the table: its label, what went wrong (None: every stage succeeded)
    and its metrics' macro values."""

    label: str
    state: str | None
    values: dict[str, float | None] = field(default_factory=dict)


def results_tables(outcome: ExperimentOutcome, width: int) -> list[RenderableType]:
    """A table (with its note on left-out metrics) per task of ``outcome``, each fitting
    ``width`` columns."""
    by_task: dict[str, list[RunSpec]] = {}
    for run in outcome.graph.runs:
        by_task.setdefault(run.task.name, []).append(run)
    return [_task_table(outcome, task, runs, width) for task, runs in by_task.items()]


def _task_table(
    outcome: ExperimentOutcome, task: str, runs: Sequence[RunSpec], width: int
) -> RenderableType:
    run_dirs = [outcome.graph.run_dir(run) for run in runs]
    labels = short_run_labels(
        (run.model.name, run.prompt.label if run.prompt else "default", run_dir.name)
        for run, run_dir in zip(runs, run_dirs, strict=True)
    )
    rows = [_row(outcome, label, run_dir) for label, run_dir in zip(labels, run_dirs, strict=True)]
    metrics = list(dict.fromkeys(m for row in rows for m in row.values))
    if not metrics:
        metrics = list(runs[0].task.metrics or [])
    schema = MetricsSchema.merged(
        s for run_dir in run_dirs if (s := read_metrics_schema(run_dir)) is not None
    )
    headers = {m: _header(m, schema.direction(m)) for m in metrics}
    longest = max(
        len("run"), *(len(row.label) for row in rows), *(len(row.state or "") for row in rows)
    )
    label_width = min(LABEL_MAX, longest)
    shown, room = _fitting(headers, rows, width - 1 - label_width - CELL_PAD)
    label_width = min(longest, label_width + room)

    table = Table(title=f"{task} (macro averages)", title_justify="left")
    table.add_column("run", overflow="fold", max_width=label_width)
    for metric in shown:
        table.add_column(headers[metric], justify="right", no_wrap=True)
    best = {m: _best(rows, m, schema.direction(m)) for m in shown}
    for row in rows:
        cells: list[str | Text] = [_run_text(row)]
        for metric in shown:
            value = row.values.get(metric)
            style = "bold" if value is not None and value == best[metric] else ""
            cells.append(Text(_number(value), style=style))
        table.add_row(*cells)
    rest = metrics[len(shown) :]
    if not rest:
        return table
    return Group(table, Text(_rest_note(rest, outcome.graph.experiment_dir)))


def _fitting(headers: dict[str, str], rows: Sequence[RunRow], room: int) -> tuple[list[str], int]:
    """The metrics (of ``headers``, in order) whose columns fit in ``room`` characters and
    the room left (the run labels get it); the first metric that does not fit ends the
    list, so the table keeps the task's order."""
    shown: list[str] = []
    for metric, header in headers.items():
        need = max(len(header), *(len(_number(row.values.get(metric))) for row in rows))
        if need + CELL_PAD > room:
            break
        room -= need + CELL_PAD
        shown.append(metric)
    return shown, max(room, 0)


def _row(outcome: ExperimentOutcome, label: str, run_dir: Path) -> RunRow:
    results: dict[StageName, StageResult | None] = {
        t.stage: outcome.results.get(t.id) for t in outcome.graph if t.run_dir == run_dir
    }
    state: str | None = None
    for stage in RUN_STAGES:
        result = results.get(stage)
        if result is None:
            state = f"{stage.value} not run"
            break
        if result.status not in SUCCESS:
            state = f"{stage.value} {result.status.value}"
            break
    row = RunRow(label, state)
    evaluation = results.get(StageName.EVALUATION)
    if evaluation is not None and evaluation.status in SUCCESS:
        row.values = {
            k: float(v) if isinstance(v, int | float) else None
            for k, v in evaluation.summary.items()
            if v is None or isinstance(v, int | float)
        }
    return row


def _header(metric: str, higher_is_better: bool | None) -> str:
    if higher_is_better is None:
        return metric
    return f"{metric} {'↑' if higher_is_better else '↓'}"


def _number(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


def _best(rows: Sequence[RunRow], metric: str, higher_is_better: bool | None) -> float | None:
    """The best value of ``metric`` (None: no direction, or fewer than two runs have it)."""
    values = [v for row in rows if (v := row.values.get(metric)) is not None]
    if higher_is_better is None or len(values) < 2:
        return None
    return max(values) if higher_is_better else min(values)


def _run_text(row: RunRow) -> Text:
    """The run's label, and under it what went wrong, if anything."""
    text = Text(row.label)
    if row.state is not None:
        style = "red" if TaskState.FAILED.value in row.state else "yellow"
        text.append(f"\n{row.state}", style=style)
    return text


def _rest_note(rest: Sequence[str], experiment_dir: Path) -> str:
    """Which metrics the table left out and where they all are: the experiment's
    comparison table, else each run's ``metrics_general.csv``."""
    comparison = experiment_dir / COMPARISON_FILE
    where = (
        _shown_path(comparison)
        if comparison.is_file()
        else f"each run's {METRICS_FILES['general']} in {_shown_path(experiment_dir)}"
    )
    noun = "metric" if len(rest) == 1 else "metrics"
    return f"{len(rest)} more {noun} in {where}: {', '.join(rest)}"


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
