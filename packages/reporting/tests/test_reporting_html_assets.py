"""HTML reports share one plotly.js per experiment folder, loaded by a relative path: the
reports stay small, and they render in a real browser with no network, also from a copy
of the experiment folder; the quality-vs-latency chart's menu switches the metric."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

from vlmhb.core.contracts import StageName, TaskState
from vlmhb.reporting.assets import ASSETS_DIR, plotly_asset
from vlmhb.reporting.stage import ExperimentReportStage, RunReportStage

from .chromium_page import CHROMIUM, ChromiumPage

Runs = dict[str, Any]  # name -> conftest.RunFixture
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
RENDERED = "document.querySelectorAll('.js-plotly-plot svg.main-svg').length"
PLOTS = "document.querySelectorAll('.js-plotly-plot').length"


def _script_sources(page: Path) -> list[str]:
    return re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.read_text(encoding="utf-8"))


def test_every_report_loads_the_one_asset_by_a_relative_path(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs
) -> None:
    assets = sorted(exp_dir.rglob("*.js"))
    assert assets == [exp_dir / plotly_asset()]
    assert assets[0].read_text(encoding="utf-8") == get_plotlyjs()
    pages = [exp_dir / "report.html", *(r.run_dir / "report.html" for r in three_runs.values())]
    for page in pages:
        assert page.stat().st_size < 500_000, page
        (src,) = _script_sources(page)
        assert "://" not in src and not src.startswith("/")
        assert (page.parent / src).resolve() == assets[0].resolve()


def test_the_asset_is_rewritten_only_when_missing_or_different(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs, stage_task: Callable[..., Any]
) -> None:
    asset = exp_dir / plotly_asset()
    before = asset.stat()
    run = three_runs["qwen7b"]
    task, ctx, _ = stage_task(StageName.REPORT, run.run_dir)
    assert RunReportStage().run(task, ctx).status is TaskState.COMPLETED
    assert asset.stat().st_ino == before.st_ino  # the same file: not written again
    asset.write_text("/* truncated */", encoding="utf-8")
    task, ctx, _ = stage_task(StageName.EXPERIMENT_REPORT, exp_dir, [run.run_dir])
    assert ExperimentReportStage().run(task, ctx).status is TaskState.COMPLETED
    assert asset.read_text(encoding="utf-8") == get_plotlyjs()
    assert [p.name for p in asset.parent.iterdir()] == [asset.name]  # no temp files left


def test_a_run_report_whose_experiment_folder_cannot_take_the_asset_still_completes(
    exp_dir: Path, three_runs: Runs, stage_task: Callable[..., Any]
) -> None:
    (exp_dir / ASSETS_DIR).write_text("not a folder", encoding="utf-8")
    run = three_runs["tesseract"]
    task, ctx, lines = stage_task(StageName.REPORT, run.run_dir)
    result = RunReportStage().run(task, ctx)
    assert result.status is TaskState.COMPLETED
    assert (run.run_dir / "report.html").is_file()
    (note,) = [line for line in lines if "not written" in line]
    assert str(exp_dir / plotly_asset()) in note and "experiment report" in note


@needs_chromium
def test_reports_render_offline_from_a_copy_of_the_experiment_folder(
    tmp_path: Path, exp_dir: Path, experiment: dict[str, Any], three_runs: Runs
) -> None:
    copy = tmp_path / "elsewhere" / exp_dir.name
    shutil.copytree(exp_dir, copy)
    shutil.rmtree(exp_dir)  # nothing may point back at where the reports were written
    run_page = copy / three_runs["qwen3b"].run_dir.name / "report.html"
    for page, charts in ((copy / "report.html", 2), (run_page, 3)):
        with ChromiumPage(page) as browser:
            assert browser.evaluate("typeof window.Plotly") == "object", page
            assert browser.wait_for(f"{RENDERED} >= {charts} && {PLOTS}") == charts
            assert browser.evaluate("document.getElementById('plotly-missing').hidden") is True


@needs_chromium
def test_without_the_asset_the_report_says_what_is_missing(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs
) -> None:
    os.remove(exp_dir / plotly_asset())
    with ChromiumPage(three_runs["qwen7b"].run_dir / "report.html") as browser:
        assert browser.evaluate("typeof window.Plotly") == "undefined"
        note = browser.evaluate(
            "(() => { const n = document.getElementById('plotly-missing');"
            " return n.hidden ? null : n.textContent; })()"
        )
        assert f"../{plotly_asset()}" in note


@needs_chromium
def test_the_quality_speed_menu_switches_the_metric_and_its_front(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs
) -> None:
    chart = "document.querySelectorAll('.js-plotly-plot')[1]"
    with ChromiumPage(exp_dir / "report.html") as browser:
        browser.wait_for(f"{RENDERED} >= 2")
        y_title = f"{chart}.querySelector('.ytitle').textContent"
        assert browser.evaluate(y_title) == "cer (lower is better)"
        browser.click(f"{chart}.querySelector('.updatemenu-header-group')")
        buttons = f"[...{chart}.querySelectorAll('.updatemenu-dropdown-button')]"
        assert browser.wait_for(f"{buttons}.map(b => b.textContent)") == [
            "cer (lower is better)",
            "anls (higher is better)",
        ]
        browser.click(f"{buttons}.find(b => b.textContent.startsWith('anls'))")
        assert browser.wait_for(f"{y_title} == 'anls (higher is better)' && {y_title}")
        visible = browser.evaluate(f"{chart}.data.map(t => t.visible)")
        assert visible == [False, False, True, True]
        title = browser.evaluate(f"{chart}.querySelector('.gtitle').textContent")
        assert title == "anls vs latency_ms_p50"
