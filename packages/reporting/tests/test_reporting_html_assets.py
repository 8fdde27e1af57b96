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

from playwright.sync_api import Page, expect
from plotly.offline import get_plotlyjs

from vlmhb.core.contracts import StageName, TaskState
from vlmhb.reporting.assets import ASSETS_DIR, plotly_asset
from vlmhb.reporting.stage import ExperimentReportStage, RunReportStage

Runs = dict[str, Any]  # name -> conftest.RunFixture


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


def test_reports_render_offline_from_a_copy_of_the_experiment_folder(
    tmp_path: Path,
    exp_dir: Path,
    experiment: dict[str, Any],
    three_runs: Runs,
    browser_page: Page,
) -> None:
    copy = tmp_path / "elsewhere" / exp_dir.name
    shutil.copytree(exp_dir, copy)
    shutil.rmtree(exp_dir)  # nothing may point back at where the reports were written
    run_page = copy / three_runs["qwen3b"].run_dir.name / "report.html"
    for page, charts in ((copy / "report.html", 2), (run_page, 3)):
        browser_page.goto(page.as_uri())
        assert browser_page.evaluate("typeof window.Plotly") == "object", page
        expect(browser_page.locator(".js-plotly-plot")).to_have_count(charts)
        expect(browser_page.locator(".js-plotly-plot:not(:has(svg.main-svg))")).to_have_count(0)
        assert browser_page.locator("#plotly-missing").evaluate("n => n.hidden") is True


def test_without_the_asset_the_report_says_what_is_missing(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs, browser_page: Page
) -> None:
    os.remove(exp_dir / plotly_asset())
    browser_page.goto((three_runs["qwen7b"].run_dir / "report.html").as_uri())
    assert browser_page.evaluate("typeof window.Plotly") == "undefined"
    note = browser_page.locator("#plotly-missing")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"../{plotly_asset()}")


def test_the_quality_speed_menu_switches_the_metric_and_its_front(
    exp_dir: Path, experiment: dict[str, Any], three_runs: Runs, browser_page: Page
) -> None:
    browser_page.goto((exp_dir / "report.html").as_uri())
    chart = browser_page.locator(".js-plotly-plot").nth(1)
    y_title = chart.locator(".ytitle")
    expect(y_title).to_have_text("cer (lower is better)")
    chart.locator(".updatemenu-header-group").click()  # a real mouse: move, press, release
    buttons = chart.locator(".updatemenu-dropdown-button")
    expect(buttons).to_have_text(["cer (lower is better)", "anls (higher is better)"])
    buttons.filter(has_text="anls").click()
    expect(y_title).to_have_text("anls (higher is better)")
    assert chart.evaluate("c => c.data.map(t => t.visible)") == [False, False, True, True]
    expect(chart.locator(".gtitle")).to_have_text("anls vs latency_ms_p50")
