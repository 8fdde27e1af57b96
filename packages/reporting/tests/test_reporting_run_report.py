"""The ``report`` stage on realistic run directories."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from vlmhb.core.contracts import StageName, TaskState
from vlmhb.reporting.assets import plotly_asset
from vlmhb.reporting.stage import RunReportStage

StageTaskFactory = Callable[..., Any]
Runs = dict[str, Any]  # name -> conftest.RunFixture


def _run(stage_task: StageTaskFactory, run_dir: Path) -> Any:
    task, ctx, lines = stage_task(StageName.REPORT, run_dir)
    result = RunReportStage().run(task, ctx)
    return result, lines


def _section(markdown: str, title: str) -> str:
    start = markdown.index(f"## {title}")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def test_run_report_markdown_content(three_runs: Runs, stage_task: StageTaskFactory) -> None:
    run = three_runs["tesseract"]
    result, lines = _run(stage_task, run.run_dir)
    assert result.status is TaskState.COMPLETED
    assert sorted(Path(p).name for p in result.outputs) == ["report.html", "report.md"]
    assert result.summary["metrics"]["cer"] == run.cer
    assert any("report.md" in line for line in lines)
    md = (run.run_dir / "report.md").read_text(encoding="utf-8")

    assert md.startswith("# Run report: tesseract-rus__passport_vqa__passport\n")
    spec = _section(md, "Run")
    assert "| backend | tesseract |" in spec
    assert "| dataset | demo_mini (vqa_csv) |" in spec
    assert "| prompt | passport (sha256 abababababab) |" in spec
    assert "| git_commit | 356a2fb |" in _section(md, "Reproducibility")

    general = _section(md, "General metrics")
    assert "| metric | macro | micro | CI95 low | CI95 high | n |" in general
    assert (
        f"| cer | {run.cer:.4f} | {run.cer * 0.9:.4f} | {run.cer * 0.5:.4f} | "
        f"{run.cer * 1.5:.4f} | 5 |"
    ) in general
    assert "latency_ms_p50" not in general

    speed = _section(md, "Speed")
    assert "| latency_ms_p50 | 121.0 |" in speed
    assert "| ttft_ms_p50 | 36.30 |" in speed
    assert "| error_rate | 0.0000 |" in speed
    assert "| throughput_rps |" in speed

    assert "| invoice | 1 | 0.3750 | 0.6250 |" in _section(md, "Metrics by document type\n")
    assert "| passport | surname | 2 | 0.2976 |" in _section(md, "Metrics by document type and")


def test_worst_samples_are_ordered_by_the_first_metric(
    three_runs: Runs, stage_task: StageTaskFactory
) -> None:
    run = three_runs["tesseract"]
    _run(stage_task, run.run_dir)
    worst = _section(
        (run.run_dir / "report.md").read_text(encoding="utf-8"), "Worst samples by cer"
    )
    rows = [line for line in worst.splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0] for row in rows] == ["| 4", "| 2", "| 3", "| 0", "| 1"]
    # A model answer "None" stays text, not a missing value.
    assert rows[0] == "| 4 | snils | number | 112-233-445 95 | None |  | 1.0000 |"


def test_problems_are_counted_and_listed(three_runs: Runs, stage_task: StageTaskFactory) -> None:
    run = three_runs["tesseract"]
    _run(stage_task, run.run_dir)
    md = (run.run_dir / "report.md").read_text(encoding="utf-8")
    problems = _section(md, "Skipped input problems")
    assert "2 input row(s) were skipped" in problems
    assert "| annotation.csv:7 | answer_bbox | 6 | box [10, 20, 5, 8] is inverted |" in problems
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "image images/9.jpg not found" in html
    other = three_runs["qwen7b"].run_dir
    _run(stage_task, other)
    clean = _section((other / "report.md").read_text(encoding="utf-8"), "Skipped input problems")
    assert "No input rows were skipped." in clean


def test_run_report_html_loads_the_shared_plotly_with_three_charts(
    three_runs: Runs, stage_task: StageTaskFactory, plotly_traces: Callable[[str], Any]
) -> None:
    run = three_runs["qwen3b"]
    _run(stage_task, run.run_dir)
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert get_plotlyjs() not in html and len(html.encode("utf-8")) < 500_000
    assert re.findall(r'<script[^>]*\ssrc="([^"]+)"', html) == [f"../{plotly_asset()}"]
    asset = run.run_dir.parent / plotly_asset()
    assert asset.read_text(encoding="utf-8") == get_plotlyjs()
    bars, latency, heatmap = plotly_traces(html)
    assert [t["name"] for t in bars] == ["macro", "micro"]
    assert bars[0]["x"] == ["cer", "anls"] and bars[0]["y"] == [run.cer, run.anls]
    assert [t["name"] for t in latency] == ["latency_ms", "ttft_ms"]
    assert latency[0]["x"] == [1700.0, 1810.0, 1905.0, 1799.0, 1820.0]
    assert heatmap[0]["type"] == "heatmap" and heatmap[0]["y"] == ["invoice", "passport", "snils"]
    # The same tables as the Markdown, with model answers escaped.
    assert f"<td>{run.cer:.4f}</td>" in html
    assert "&lt;b&gt;ПЕТРОВ&lt;/b&gt;|А" in html
    assert "<b>ПЕТРОВ</b>" not in html


def test_only_metrics_general_is_enough(tmp_path: Path, stage_task: StageTaskFactory) -> None:
    run_dir = tmp_path / "lonely__task__default__12345678"
    run_dir.mkdir()
    (run_dir / "metrics_general.csv").write_text(
        "\ufeffmetric;macro;micro;ci95_low;ci95_high;n\nanls;0.75;0.7;0.6;0.9;4\n", encoding="utf-8"
    )
    result, _ = _run(stage_task, run_dir)
    assert result.status is TaskState.COMPLETED
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "| anls | 0.7500 | 0.7000 | 0.6000 | 0.9000 | 4 |" in md
    assert "| model | lonely |" in md
    assert "Not available (metrics_by_id.csv missing or empty" in md
    assert "No timing rows in metrics_general.csv." in md
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.count('class="plotly-graph-div"') == 1
    assert f'<script src="../{plotly_asset()}"></script>' in html
    assert (tmp_path / plotly_asset()).is_file()  # the run folder's parent is its experiment's


def test_unreadable_optional_file_is_a_note_not_a_crash(
    three_runs: Runs, stage_task: StageTaskFactory
) -> None:
    run = three_runs["qwen7b"]
    (run.run_dir / "run.json").write_text("{not json", encoding="utf-8")
    (run.run_dir / "answers.csv").write_bytes(b"")
    result, _ = _run(stage_task, run.run_dir)
    assert result.status is TaskState.COMPLETED
    md = (run.run_dir / "report.md").read_text(encoding="utf-8")
    assert "> Note: run.json: unreadable" in md
    assert "> Note: answers.csv: unreadable" in md
    assert "| model | qwen2.5-vl-7b |" in md  # from the directory name


def test_missing_metrics_general_fails_naming_the_file(
    three_runs: Runs, stage_task: StageTaskFactory
) -> None:
    run = three_runs["qwen7b"]
    (run.run_dir / "metrics_general.csv").unlink()
    result, lines = _run(stage_task, run.run_dir)
    assert result.status is TaskState.FAILED
    assert "metrics_general.csv" in result.message and "missing" in result.message
    assert lines == [result.message]
    assert not (run.run_dir / "report.md").exists()


def test_rerun_overwrites_and_leaves_no_temp_files(
    three_runs: Runs, stage_task: StageTaskFactory
) -> None:
    run = three_runs["qwen3b"]
    (run.run_dir / "report.md").write_text("stale", encoding="utf-8")
    _run(stage_task, run.run_dir)
    _run(stage_task, run.run_dir)
    assert (run.run_dir / "report.md").read_text(encoding="utf-8").startswith("# Run report")
    assert not [p for p in run.run_dir.iterdir() if p.name.endswith(".tmp")]
