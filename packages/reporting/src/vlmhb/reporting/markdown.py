"""Markdown reports: ``report.md`` of a run and of an experiment.

``render_run_markdown`` is the ``markdown`` entry of the ``vlmhb.reports`` group: a
report plugin is a callable ``(RunData) -> str``.
"""

from __future__ import annotations

from vlmhb.core.files import REPORT_MD
from vlmhb.reporting.experiment import ExperimentData, comparison_table, experiment_context
from vlmhb.reporting.loading import RunData
from vlmhb.reporting.run_report import build_run_report
from vlmhb.reporting.templating import environment


def render_run_markdown(data: RunData) -> str:
    """The Markdown run report of ``data``."""
    report = build_run_report(data)
    return environment(html=False).get_template("run.md.j2").render(report=report)


def render_experiment_markdown(data: ExperimentData) -> str:
    """The Markdown experiment report; runs link to their ``report.md``."""
    context = experiment_context(data, comparison_table(data, REPORT_MD))
    return environment(html=False).get_template("experiment.md.j2").render(**context)
