"""Offline HTML reports with Plotly charts; plotly.js is the experiment folder's one
shared asset (``vlmhb.reporting.assets``), loaded by a relative ``<script src>``.

``render_run_html`` is the ``html`` entry of the ``vlmhb.reports`` group.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from vlmhb.core.files import REPORT_HTML
from vlmhb.reporting import figures
from vlmhb.reporting.assets import plotly_src
from vlmhb.reporting.experiment import (
    ExperimentData,
    compact_comparison_table,
    experiment_context,
)
from vlmhb.reporting.loading import RunData
from vlmhb.reporting.run_report import build_run_report
from vlmhb.reporting.templating import environment

LATENCY_COLUMN = "latency_ms_p50"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def embed(figure: go.Figure) -> Markup:
    """``figure`` as an HTML fragment; the page loads plotly.js itself (once, in its head)."""
    return Markup(
        figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            config=PLOTLY_CONFIG,
            default_height="460px",
        )
    )


def render_run_html(data: RunData) -> str:
    """The HTML run report of ``data``: the Markdown content plus charts."""
    report = build_run_report(data)
    charts = run_charts(data)
    return (
        environment(html=True)
        .get_template("run.html.j2")
        .render(report=report, charts=charts, plotly_src=plotly_src(levels_below=1))
    )


def run_charts(data: RunData) -> dict[str, Markup]:
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
    """The HTML experiment report: comparison table (short run labels linked to their
    ``report.html``, directions in the headers), leaderboard and one quality-vs-latency
    chart with a metric selector and each metric's Pareto front (metrics with a
    direction)."""
    charts: dict[str, Any] = {}
    comparison = data.comparison.assign(label=data.labels)
    if len(comparison) and data.quality_metrics:
        charts["leaderboard"] = embed(
            figures.leaderboard_bars(comparison, data.quality_metrics, run_column="label")
        )
        ranked = {m: d for m, d in data.higher_is_better.items() if m in data.quality_metrics}
        timed = LATENCY_COLUMN in comparison and comparison[LATENCY_COLUMN].notna().any()
        if ranked and timed:
            charts["quality_speed"] = embed(
                figures.quality_speed_chart(
                    comparison, ranked, LATENCY_COLUMN, label_column="label"
                )
            )
    context = experiment_context(data, compact_comparison_table(data, REPORT_HTML))
    return (
        environment(html=True)
        .get_template("experiment.html.j2")
        .render(charts=charts, plotly_src=plotly_src(levels_below=0), **context)
    )
