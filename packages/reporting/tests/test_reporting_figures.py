"""Figures: the traces and their data, as the HTML and the analytics API receive them."""

from __future__ import annotations

import pandas as pd
import pytest

from vlmhb.reporting import figures

GENERAL = pd.DataFrame(
    {
        "metric": ["cer", "anls", "latency_ms_p50"],
        "macro": [0.2, 0.8, 640.0],
        "micro": [0.18, 0.8, None],
        "ci95_low": [0.1, 0.7, None],
        "ci95_high": [0.35, 0.85, None],
        "n": [5, 5, None],
    }
)
COMPARISON = pd.DataFrame(
    {
        "run": ["r-fast", "r-mid", "r-best"],
        "model": ["tess", "q3b", "q7b"],
        "task": ["t"] * 3,
        "prompt": ["p"] * 3,
        "cer": [0.41, 0.14, 0.01],
        "anls": [0.58, 0.80, 0.98],
        "latency_ms_p50": [121.0, 1810.0, 1480.0],
    }
)


def test_metric_bars_has_quality_metrics_with_asymmetric_ci() -> None:
    figure = figures.metric_bars(GENERAL, ["cer", "anls"])
    macro, micro = figure.data
    assert macro.name == "macro" and list(macro.x) == ["cer", "anls"]
    assert list(macro.y) == [0.2, 0.8]
    assert list(macro.error_y.array) == pytest.approx([0.15, 0.05])
    assert list(macro.error_y.arrayminus) == pytest.approx([0.1, 0.1])
    assert micro.name == "micro" and list(micro.y) == [0.18, 0.8]


def test_metric_heatmap_pivots_doc_class_by_question_type() -> None:
    table = pd.DataFrame(
        {
            "doc_class": ["invoice", "passport", "passport"],
            "question_type": ["total", "birth_date", "surname"],
            "n": [1, 1, 2],
            "cer": [0.375, 0.1, 0.3],
        }
    )
    heatmap = figures.metric_heatmap(table, "cer", higher_is_better=False).data[0]
    assert list(heatmap.y) == ["invoice", "passport"]
    assert list(heatmap.x) == ["birth_date", "surname", "total"]
    assert [list(row) for row in heatmap.z] == [[None, None, 0.375], [0.1, 0.3, None]]
    assert heatmap.reversescale is True  # CER: lower is better
    anls = table.rename(columns={"cer": "anls"})
    assert figures.metric_heatmap(anls, "anls", higher_is_better=True).data[0].reversescale is False


def test_latency_histogram_skips_missing_columns_and_values() -> None:
    answers = pd.DataFrame({"latency_ms": [100.0, None, 300.0], "ttft_ms": [None, None, None]})
    traces = figures.latency_histogram(answers).data
    assert [t.name for t in traces] == ["latency_ms"]
    assert list(traces[0].x) == [100.0, 300.0]


def test_leaderboard_one_trace_per_run_grouped_by_metric() -> None:
    figure = figures.leaderboard_bars(COMPARISON, ["cer", "anls"])
    assert [t.name for t in figure.data] == ["r-fast", "r-mid", "r-best"]
    assert list(figure.data[2].x) == ["cer", "anls"] and list(figure.data[2].y) == [0.01, 0.98]
    assert figure.layout.barmode == "group"


def test_quality_latency_scatter_marks_the_pareto_front() -> None:
    figure = figures.quality_latency_scatter(COMPARISON, "cer", higher_is_better=False)
    points, front = figure.data
    assert list(points.text) == ["tess", "q3b", "q7b"]
    assert list(points.x) == [121.0, 1810.0, 1480.0]
    assert front.name == "Pareto front"
    assert list(front.customdata) == ["r-fast", "r-best"]
    assert list(front.x) == [121.0, 1480.0] and list(front.y) == [0.41, 0.01]


def test_quality_latency_scatter_uses_the_given_direction() -> None:
    # Read CER as if higher were better: the fast run has the highest value and wins alone.
    figure = figures.quality_latency_scatter(COMPARISON, "cer", higher_is_better=True)
    assert list(figure.data[1].customdata) == ["r-fast"]
    anls = figures.quality_latency_scatter(COMPARISON, "anls", higher_is_better=True)
    assert list(anls.data[1].customdata) == ["r-fast", "r-best"]


def test_figures_serialise_to_plotly_json() -> None:
    payload = figures.quality_latency_scatter(COMPARISON, "anls", True).to_plotly_json()
    assert [t["name"] for t in payload["data"]] == ["runs", "Pareto front"]


def test_quality_speed_chart_one_menu_entry_per_metric_with_its_own_front() -> None:
    # Directions come from the caller (the metric metadata), never from the names: read
    # CER as higher-is-better here and its front is the fast run alone.
    directions = {"anls": True, "cer": True, "absent": False}
    figure = figures.quality_speed_chart(COMPARISON, directions)
    assert [(t.name, t.visible) for t in figure.data] == [
        ("runs", True),
        ("Pareto front", True),
        ("runs", False),
        ("Pareto front", False),
    ]
    assert list(figure.data[1].customdata) == ["r-fast", "r-best"]  # anls
    assert list(figure.data[3].customdata) == ["r-fast"]  # cer, higher taken as better
    (menu,) = figure.layout.updatemenus
    assert [b.label for b in menu.buttons] == ["anls (higher is better)", "cer (higher is better)"]
    shown, layout = menu.buttons[1].args
    assert shown == {"visible": [False, False, True, True]}
    assert layout["yaxis.title.text"] == "cer (higher is better)"
    assert figure.layout.yaxis.title.text == "anls (higher is better)"
    low, high = figure.layout.xaxis.range  # room for the points' labels on both sides
    assert low < 121.0 and high > 1810.0
    assert figures.quality_speed_chart(COMPARISON, {"absent": True}).data == ()
