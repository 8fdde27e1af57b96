"""The ``experiment_report`` stage over three runs and a failed one."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from vlmhb.core.contracts import StageName, TaskState
from vlmhb.reporting.assets import plotly_asset
from vlmhb.reporting.experiment import IDENTITY_COLUMNS, LOAD_COLUMNS
from vlmhb.reporting.stage import ExperimentReportStage

StageTaskFactory = Callable[..., Any]
Runs = dict[str, Any]  # name -> conftest.RunFixture


def _table_rows(markdown: str, title: str) -> list[list[str]]:
    """Cells of the first table after the ``## title`` heading (header row first)."""
    lines = markdown[markdown.index(f"## {title}") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    return [
        [cell.strip() for cell in line[1:-1].split(" | ")]
        for line in block
        if not line.startswith("|---")
    ]


def test_stage_completes_and_reports_the_failed_run(
    experiment: dict[str, Any], three_runs: Runs
) -> None:
    result = experiment["result"]
    assert result.status is TaskState.COMPLETED
    assert sorted(Path(p).name for p in result.outputs) == [
        "comparison.csv",
        "report.html",
        "report.md",
    ]
    assert set(result.summary["runs"]) == {r.run_dir.name for r in three_runs.values()}
    reason = result.summary["failed"][experiment["failed"].name]
    assert "metrics_general.csv" in reason
    assert "1 failed" in result.message and experiment["lines"] == [result.message]


def test_comparison_csv_one_row_per_run_sorted_by_first_metric(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs
) -> None:
    frame = pd.read_csv(exp_dir / "comparison.csv", sep=";")
    assert list(frame.columns) == [
        "run",
        "model",
        "task",
        "prompt",
        "concurrency",
        "request_rate",
        "cer",
        "anls",
        "latency_ms_p50",
        "ttft_ms_p50",
        "error_rate",
        "throughput_rps",
    ]
    # CER is lower-is-better: best first.
    assert list(frame["model"]) == ["qwen2.5-vl-7b", "qwen2.5-vl-3b", "tesseract-rus"]
    assert list(frame["task"]) == ["passport_vqa"] * 3
    assert list(frame["prompt"]) == ["passport"] * 3
    # run.json's (these runs have no manifest record of what inference measured under)
    assert list(frame["concurrency"]) == [4] * 3
    assert list(frame["request_rate"]) == ["unlimited"] * 3
    by_model = frame.set_index("model")
    for key, model in (("qwen7b", "qwen2.5-vl-7b"), ("tesseract", "tesseract-rus")):
        run = three_runs[key]
        assert by_model.loc[model, "run"] == run.run_dir.name
        assert by_model.loc[model, "cer"] == pytest.approx(run.cer)
        assert by_model.loc[model, "anls"] == pytest.approx(run.anls)
        assert by_model.loc[model, "latency_ms_p50"] == pytest.approx(run.latency_p50)
    assert experiment["failed"].name not in set(frame["run"])


def test_markdown_marks_best_values_and_links_run_reports(
    experiment: dict[str, Any], three_runs: Runs
) -> None:
    md = experiment["md"]
    assert md.startswith("# Experiment report: passport-fields\n")
    assert "3 run(s) compared, 1 failed." in md
    assert "Sorted by cer (lower is better)" in md
    header, *rows = _table_rows(md, "Comparison")
    assert header[:8] == [*IDENTITY_COLUMNS, *LOAD_COLUMNS, "cer", "anls"]
    column = {name: i for i, name in enumerate(header)}
    best, mid, fast = rows
    q7b, tess = three_runs["qwen7b"], three_runs["tesseract"]
    assert best[0] == f"[{q7b.run_dir.name}]({q7b.run_dir.name}/report.md)"
    assert best[column["cer"]] == f"**{q7b.cer:.4f}**"
    assert best[column["anls"]] == f"**{q7b.anls:.4f}**"
    assert fast[column["cer"]] == f"{tess.cer:.4f}"
    assert fast[column["latency_ms_p50"]] == "**121.0**"  # fastest, lower is better
    assert fast[column["throughput_rps"]].startswith("**")  # higher is better
    assert best[column["error_rate"]] == "**0.0000**"  # a tie: every run is best
    assert not any(cell.startswith("**") for cell in mid[1:4])
    failed_rows = _table_rows(md, "Failed runs")
    assert failed_rows[0] == ["run", "reason"]
    assert failed_rows[1][0] == experiment["failed"].name
    assert failed_rows[1][1] == (
        "required file metrics_general.csv is missing (has the evaluation stage finished?)"
    )


def test_html_has_compact_table_leaderboard_and_one_quality_speed_chart(
    experiment: dict[str, Any], three_runs: Runs, plotly_traces: Callable[[str], Any]
) -> None:
    html = experiment["html"]
    assert get_plotlyjs() not in html
    assert re.findall(r'<script[^>]*\ssrc="([^"]+)"', html) == [plotly_asset()]
    q7b, tess, q3b = (three_runs[k].run_dir.name for k in ("qwen7b", "tesseract", "qwen3b"))
    # short labels, the full name on hover, linked to the run report; scrolls when too wide
    assert (
        f'<td title="{q7b}"><a href="{q7b}/report.html">qwen2.5-vl-7b · passport</a></td>' in html
    )
    table = html[html.index('<div class="table-scroll"><table class="compact">') :]
    table = table[: table.index("</table>")]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert headers[:4] == ["run", "task", "concurrency", "request_rate"]
    assert headers[4:] == [
        "cer ↓",
        "anls ↑",
        "latency_ms_p50 ↓",
        "ttft_ms_p50 ↓",
        "error_rate ↓",
        "throughput_rps ↑",
    ]
    assert '<th title="lower is better">cer ↓</th>' in table
    assert "<th>model</th>" not in table and "<th>prompt</th>" not in table
    assert f"<strong>{three_runs['qwen7b'].cer:.4f}</strong>" in table
    leaderboard, speed = plotly_traces(html)
    labels = ["qwen2.5-vl-7b · passport", "qwen2.5-vl-3b · passport", "tesseract-rus · passport"]
    assert [t["name"] for t in leaderboard] == labels
    assert leaderboard[0]["x"] == ["cer", "anls"]
    # one chart: points and Pareto front per metric (cer, then anls), cer shown first
    assert [(t["name"], t["visible"]) for t in speed] == [
        ("runs", True),
        ("Pareto front", True),
        ("runs", False),
        ("Pareto front", False),
    ]
    for (points, front), metric in ((speed[:2], "cer"), (speed[2:], "anls")):
        assert points["text"] == labels
        assert points["customdata"] == [q7b, q3b, tess]
        assert points["y"] == [
            getattr(three_runs[k], metric) for k in ("qwen7b", "qwen3b", "tesseract")
        ]
        # The 3B run is slower and worse than the 7B one: off the front for both metrics.
        assert front["customdata"] == [tess, q7b]
    assert experiment["failed"].name in html


def test_experiment_report_with_no_usable_run(exp_dir: Path, stage_task: StageTaskFactory) -> None:
    missing = exp_dir / "ghost__passport_vqa__passport__00000000"
    task, ctx, _ = stage_task(StageName.EXPERIMENT_REPORT, exp_dir, [missing])
    result = ExperimentReportStage().run(task, ctx)
    assert result.status is TaskState.COMPLETED
    md = (exp_dir / "report.md").read_text(encoding="utf-8")
    assert "0 run(s) compared, 1 failed." in md
    assert "| ghost__passport_vqa__passport__00000000 | run directory not found |" in md
    assert (
        (exp_dir / "comparison.csv").read_text(encoding="utf-8").startswith("run;model;task;prompt")
    )
    assert 'class="plotly-graph-div"' not in (exp_dir / "report.html").read_text(encoding="utf-8")
