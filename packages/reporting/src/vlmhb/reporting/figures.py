"""Plotly figures built from plain DataFrames (no I/O).

Used by the HTML reports and by the backend's ``/analytics`` JSON
(``figure.to_plotly_json()``), so every chart of the project is defined once, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from vlmhb.reporting.pareto import pareto_front

LATENCY_COLUMNS = ("latency_ms", "ttft_ms")


def _numbers(series: pd.Series) -> list[float | None]:
    """Plain floats for Plotly, missing values as ``None`` (a gap, not a zero)."""
    values = pd.to_numeric(series, errors="coerce")
    return [None if pd.isna(v) else float(v) for v in values]


def metric_bars(general: pd.DataFrame, quality_metrics: Sequence[str]) -> go.Figure:
    """The ``quality_metrics`` rows of one run's general table: macro bars with 95% CI
    error bars, micro bars beside."""
    quality = general[general["metric"].isin(list(quality_metrics))]
    macro = pd.to_numeric(quality["macro"], errors="coerce")
    figure = go.Figure()
    error_y: dict[str, object] = {"visible": False}
    if {"ci95_low", "ci95_high"} <= set(quality.columns):
        high = pd.to_numeric(quality["ci95_high"], errors="coerce") - macro
        low = macro - pd.to_numeric(quality["ci95_low"], errors="coerce")
        error_y = {
            "type": "data",
            "symmetric": False,
            "array": _numbers(high),
            "arrayminus": _numbers(low),
            "visible": True,
        }
    figure.add_trace(
        go.Bar(name="macro", x=list(quality["metric"]), y=_numbers(macro), error_y=error_y)
    )
    if "micro" in quality.columns and quality["micro"].notna().any():
        figure.add_trace(
            go.Bar(name="micro", x=list(quality["metric"]), y=_numbers(quality["micro"]))
        )
    figure.update_layout(
        title="Quality metrics (macro with 95% CI)",
        barmode="group",
        yaxis_title="value",
        xaxis_title="metric",
    )
    return figure


def metric_heatmap(by_doc_question: pd.DataFrame, metric: str, higher_is_better: bool) -> go.Figure:
    """``metric`` per document class (rows) and question type (columns).

    The colour scale is flipped for lower-is-better metrics so better is always the same
    colour.
    """
    better_high = higher_is_better
    table = by_doc_question.assign(
        **{metric: pd.to_numeric(by_doc_question[metric], errors="coerce")}
    ).pivot_table(
        index="doc_class", columns="question_type", values=metric, aggfunc="mean", dropna=False
    )
    z = [[None if pd.isna(v) else float(v) for v in row] for row in table.to_numpy()]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in table.columns],
            y=[str(i) for i in table.index],
            colorscale="Viridis",
            reversescale=not better_high,
            texttemplate="%{z:.3f}",
            colorbar={"title": {"text": metric}},
            name=metric,
        )
    )
    figure.update_layout(
        title=f"{metric} by document class and question type",
        xaxis_title="question type",
        yaxis_title="document class",
    )
    return figure


def latency_histogram(answers: pd.DataFrame, columns: Sequence[str] = LATENCY_COLUMNS) -> go.Figure:
    """Distribution of per-request timings (ms) from ``answers.csv``, one trace per column."""
    figure = go.Figure()
    for column in columns:
        if column not in answers.columns:
            continue
        values = [v for v in _numbers(answers[column]) if v is not None]
        if values:
            figure.add_trace(go.Histogram(name=column, x=values, opacity=0.6))
    figure.update_layout(
        title="Request timings",
        barmode="overlay",
        xaxis_title="milliseconds",
        yaxis_title="requests",
    )
    return figure


def leaderboard_bars(
    comparison: pd.DataFrame, metrics: Sequence[str], run_column: str = "run"
) -> go.Figure:
    """Grouped bars: one group per metric, one bar (trace) per run."""
    figure = go.Figure()
    present = [m for m in metrics if m in comparison.columns]
    for _, row in comparison.iterrows():
        figure.add_trace(
            go.Bar(
                name=str(row[run_column]),
                x=present,
                y=_numbers(pd.Series([row[m] for m in present])),
            )
        )
    figure.update_layout(
        title="Leaderboard (macro)", barmode="group", xaxis_title="metric", yaxis_title="value"
    )
    return figure


def quality_latency_scatter(
    comparison: pd.DataFrame,
    quality_metric: str,
    higher_is_better: bool,
    latency_column: str = "latency_ms_p50",
    label_column: str = "model",
    run_column: str = "run",
) -> go.Figure:
    """One point per run (x = latency, y = ``quality_metric``) and the Pareto front as a
    step line: lower latency and better quality (``higher_is_better``: the metric's
    direction) win."""
    better_high = higher_is_better
    latency = _numbers(comparison[latency_column])
    quality = _numbers(comparison[quality_metric])
    nan = float("nan")
    front = pareto_front(
        [nan if v is None else v for v in latency],
        [nan if v is None else v for v in quality],
        better_high,
    )
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            name="runs",
            x=latency,
            y=quality,
            mode="markers+text",
            text=[str(v) for v in comparison[label_column]],
            textposition="top center",
            customdata=[str(v) for v in comparison[run_column]],
            hovertemplate="%{customdata}<br>latency %{x:.1f} ms<br>"
            + quality_metric
            + " %{y:.4f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            name="Pareto front",
            x=[latency[i] for i in front],
            y=[quality[i] for i in front],
            mode="lines",
            line={"shape": "hv", "dash": "dash"},
            customdata=[str(comparison[run_column].iloc[i]) for i in front],
            hoverinfo="skip",
        )
    )
    direction = "higher is better" if better_high else "lower is better"
    figure.update_layout(
        title=f"{quality_metric} vs {latency_column}",
        xaxis_title=f"{latency_column} (lower is better)",
        yaxis_title=f"{quality_metric} ({direction})",
    )
    return figure


def quality_speed_chart(
    comparison: pd.DataFrame,
    higher_is_better: Mapping[str, bool],
    latency_column: str = "latency_ms_p50",
    label_column: str = "model",
    run_column: str = "run",
) -> go.Figure:
    """``quality_latency_scatter`` of every metric of ``higher_is_better`` (``{metric:
    its direction}``, in that order) in one chart: a dropdown picks the metric shown, with
    its points and its own Pareto front; the first metric is shown at first."""
    figure = go.Figure()
    groups: list[tuple[str, go.Figure]] = [
        (
            metric,
            quality_latency_scatter(
                comparison, metric, better, latency_column, label_column, run_column
            ),
        )
        for metric, better in higher_is_better.items()
        if metric in comparison.columns
    ]
    if not groups:
        return figure
    owner: list[int] = []
    for index, (_, single) in enumerate(groups):
        for trace in single.data:
            trace.visible = index == 0
            figure.add_trace(trace)
            owner.append(index)
    buttons = [
        {
            "label": f"{metric} ({'higher' if higher_is_better[metric] else 'lower'} is better)",
            "method": "update",
            "args": [
                {"visible": [o == index for o in owner]},
                {
                    "title.text": single.layout.title.text,
                    "yaxis.title.text": single.layout.yaxis.title.text,
                },
            ],
        }
        for index, (metric, single) in enumerate(groups)
    ]
    first = groups[0][1].layout
    figure.update_traces(cliponaxis=False, selector={"mode": "markers+text"})
    figure.update_layout(
        title={"text": first.title.text, "x": 0.5, "xanchor": "center"},
        xaxis={
            "title": {"text": first.xaxis.title.text},
            "range": _padded(comparison[latency_column]),
        },
        yaxis_title=first.yaxis.title.text,
        updatemenus=[
            {
                "type": "dropdown",
                "buttons": buttons,
                "active": 0,
                "showactive": True,
                "x": 0,
                "xanchor": "left",
                "y": 1.04,
                "yanchor": "bottom",
            }
        ],
        margin={"t": 110},
    )
    return figure


def _padded(values: pd.Series, share: float = 0.12) -> list[float] | None:
    """An axis range around ``values`` with room for the points' text labels (None: no
    numbers, Plotly's own range)."""
    numbers = [v for v in _numbers(values) if v is not None]
    if not numbers:
        return None
    low, high = min(numbers), max(numbers)
    pad = max((high - low) * share, abs(high) * share, 1.0)
    return [low - pad, high + pad]
