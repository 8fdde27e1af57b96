"""The ``report`` and ``experiment_report`` stages."""

from __future__ import annotations

import math
import time
from pathlib import Path

from vlmhb.core.contracts import StageName, StageResult, StageTask, TaskState
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import COMPARISON_FILE, CSV_SEPARATOR, REPORT_HTML, REPORT_MD
from vlmhb.core.stages import StageContext
from vlmhb.reporting.assets import ensure_plotly_asset, plotly_asset
from vlmhb.reporting.experiment import load_experiment
from vlmhb.reporting.html import render_experiment_html
from vlmhb.reporting.loading import ReportInputError, load_run
from vlmhb.reporting.markdown import render_experiment_markdown

# The file each run report of the ``vlmhb.reports`` group writes; a plugin's ``report.<name>``.
RUN_REPORT_FILES = {"markdown": REPORT_MD, "html": REPORT_HTML}


class RunReportStage:
    """Stage ``report``: writes each run report of the ``vlmhb.reports`` registry
    (``report.md``, ``report.html``, a plugin's ``report.<name>``) into ``task.run_dir``.

    Fails (status ``FAILED``, the message naming the file) when ``metrics_general.csv``
    is missing or unreadable; missing optional files only leave their section empty.
    The HTML report's plotly.js goes to the experiment folder (the run folder's parent,
    ``vlmhb.reporting.assets``); where that folder cannot be written (a container stage
    sees only its run folder) the experiment report writes it.
    """

    def run(self, task: StageTask, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        try:
            data = load_run(task.run_dir, ctx.registries.metrics)
        except ReportInputError as exc:
            ctx.log(str(exc))
            return StageResult(
                task_id=task.id,
                stage=task.stage,
                status=TaskState.FAILED,
                message=str(exc),
                duration_s=time.perf_counter() - started,
            )
        if data.spec is None and task.run is not None:
            data.spec = task.run
        reports = ctx.registries.reports
        if "html" in reports.names():
            _share_plotly(task.run_dir.parent, ctx)
        outputs = _write(
            task.run_dir,
            {
                RUN_REPORT_FILES.get(name, f"report.{name}"): reports.get(name)(data)
                for name in reports.names()
            },
        )
        ctx.log(f"run report written: {', '.join(outputs)}")
        metrics = {m: (None if math.isnan(v) else v) for m, v in data.macro().items()}
        return StageResult(
            task_id=task.id,
            stage=StageName.REPORT,
            status=TaskState.COMPLETED,
            outputs=outputs,
            summary={"metrics": metrics, "notes": data.notes},
            duration_s=time.perf_counter() - started,
        )


class ExperimentReportStage:
    """Stage ``experiment_report``: compares ``task.run_dirs`` and writes
    ``comparison.csv``, ``report.md`` and ``report.html`` into ``task.run_dir``.

    Runs without metrics are listed as failed (with the reason); the report is still
    written and the stage completes. The experiment folder's plotly.js asset, which every
    HTML report of the experiment loads, is written (again) when missing or different.
    """

    def run(self, task: StageTask, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        data = load_experiment(task.run_dir, task.run_dirs, ctx.registries.metrics)
        ensure_plotly_asset(task.run_dir)
        comparison_csv = data.comparison.to_csv(sep=CSV_SEPARATOR, index=False, lineterminator="\n")
        outputs = _write(
            task.run_dir,
            {
                COMPARISON_FILE: comparison_csv,
                REPORT_MD: render_experiment_markdown(data),
                REPORT_HTML: render_experiment_html(data),
            },
        )
        message = f"{len(data.runs)} run(s) compared"
        if data.failed:
            message += f", {len(data.failed)} failed: " + ", ".join(f.name for f in data.failed)
        ctx.log(message)
        return StageResult(
            task_id=task.id,
            stage=StageName.EXPERIMENT_REPORT,
            status=TaskState.COMPLETED,
            outputs=outputs,
            message=message,
            summary={
                "runs": [r.name for r in data.runs],
                "failed": {f.name: f.reason for f in data.failed},
            },
            duration_s=time.perf_counter() - started,
        )


def _share_plotly(exp_dir: Path, ctx: StageContext) -> None:
    """The experiment folder's plotly.js asset, or a log line saying who writes it."""
    try:
        ensure_plotly_asset(exp_dir)
    except OSError as exc:
        ctx.log(
            f"{exp_dir / plotly_asset()} not written ({exc.strerror or exc}): the charts "
            "of report.html show once the experiment report has written it"
        )


def _write(directory: Path, files: dict[str, str]) -> list[str]:
    """Write each ``{name: text}`` atomically into ``directory``; the written paths."""
    for name, text in files.items():
        atomic_write_text(directory / name, text)
    return [str(directory / name) for name in files]
