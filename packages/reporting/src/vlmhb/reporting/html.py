"""Self-contained HTML reports with Plotly charts (plotly.js inlined once per page).

``render_run_html`` is the ``html`` entry of the ``vlmhb.reports`` group.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from vlmhb.core.files import REPORT_HTML
from vlmhb.reporting import figures
from vlmhb.reporting.experiment import ExperimentData, experiment_context
from vlmhb.reporting.loading import RunData
from vlmhb.reporting.run_report import build_run_report
from vlmhb.reporting.templating import environment

LATENCY_COLUMN = "latency_ms_p50"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


class ChartEmbedder:
    """Turns figures into HTML fragments; only the first one carries plotly.js."""

    def __init__(self) -> None:
        self._bundled = False

    def __call__(self, figure: go.Figure) -> Markup:
        include: str | bool = False if self._bundled else "inline"
        self._bundled = True
        return Markup(
            figure.to_html(
                full_html=False,
                include_plotlyjs=include,
                config=PLOTLY_CONFIG,
                default_height="460px",
            )
        )


def render_run_html(data: RunData) -> str:
    """The HTML run report of ``data``: the Markdown content plus charts."""
    report = build_run_report(data)
    charts = run_charts(data, ChartEmbedder())
    return environment(html=True).get_template("run.html.j2").render(report=report, charts=charts)


def run_charts(data: RunData, embed: ChartEmbedder) -> dict[str, Markup]:
    """The run's charts that have data: ``metrics``, ``latency``, ``heatmap`` (of the
    first quality metric with a direction)."""
    charts: dict[str, Markup] = {}
    if data.quality_metrics:
        charts["metrics"] = embed(figures.metric_bars(data.general, data.quality_metrics))
    if data.answers is not None:
        latency = figures.latency_histogram(data.answers)
        if latency.data:
            charts["latency"] = embed(latency)
    table = data.by_doc_question
    if table is not None and len(table) and {"doc_class", "question_type"} <= set(table.columns):
        ranked = [m for m in data.quality_metrics if data.schema.direction(m) is not None]
        metric = next((m for m in ranked if m in table.columns), None)
        if metric is not None:
            better_high = bool(data.schema.direction(metric))
            charts["heatmap"] = embed(figures.metric_heatmap(table, metric, better_high))
    return charts


def render_experiment_html(data: ExperimentData) -> str:
    """The HTML experiment report: comparison table, leaderboard and quality-vs-latency
    charts with the Pareto front (metrics with a direction); runs link to their
    ``report.html``."""
    embed = ChartEmbedder()
    charts: dict[str, Any] = {}
    comparison = data.comparison
    if len(comparison) and data.quality_metrics:
        charts["leaderboard"] = embed(figures.leaderboard_bars(comparison, data.quality_metrics))
        if LATENCY_COLUMN in comparison.columns and comparison[LATENCY_COLUMN].notna().any():
            ranked = data.higher_is_better
            charts["scatter"] = [
                embed(
                    figures.quality_latency_scatter(
                        comparison, metric, ranked[metric], LATENCY_COLUMN
                    )
                )
                for metric in data.quality_metrics
                if metric in ranked
            ]
    context = experiment_context(data, REPORT_HTML)
    return (
        environment(html=True).get_template("experiment.html.j2").render(charts=charts, **context)
    )
