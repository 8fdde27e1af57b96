"""Realistic run and experiment directories, written by hand as docs/file-formats.md says;
a page in Debian's Chromium to open the reports in."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import Page, Route, sync_playwright

from vlmhb.core.contracts import (
    DatasetSpec,
    GenerationParams,
    ModelSpec,
    PromptRef,
    RunSpec,
    StageName,
    StageTask,
    TaskSpec,
    TaskState,
)
from vlmhb.core.stages import StageContext
from vlmhb.reporting.stage import ExperimentReportStage, RunReportStage

EXPERIMENT = "passport-fields"
# (id, doc_class, question_type, answer)
SAMPLES = [
    ("0", "passport", "surname", "ИВАНОВ"),
    ("1", "passport", "birth_date", "01.02.1990"),
    ("2", "passport", "surname", "ПЕТРОВА"),
    ("3", "invoice", "total", "1 250,00"),
    ("4", "snils", "number", "112-233-445 95"),
]


@dataclass
class RunFixture:
    """What a test needs to know about a written run directory."""

    run_dir: Path
    spec: RunSpec
    cer: float
    anls: float
    latency_p50: float


def make_spec(model: str, backend: str = "transformers") -> RunSpec:
    return RunSpec(
        experiment=EXPERIMENT,
        model=ModelSpec(name=model, backend=backend, model_path=f"/models/{model}"),
        task=TaskSpec(name="passport_vqa", dataset="demo_mini", metrics=["cer", "anls"]),
        dataset=DatasetSpec(name="demo_mini", format="vqa_csv", path=Path("data/demo_mini")),
        prompt=PromptRef(path=Path("prompts/passport.csv"), sha256="ab" * 32),
        generation=GenerationParams(max_tokens=64),
    )


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, sep=";", index=False, lineterminator="\n")


def write_run(
    exp_dir: Path,
    model: str,
    answers: list[str],
    cer: list[float],
    latency_ms: list[float],
    problems: list[tuple[str, str, str, str]] | None = None,
    backend: str = "transformers",
) -> RunFixture:
    """A complete run directory: run.json, answers, metrics at four levels, manifest."""
    spec = make_spec(model, backend)
    run_dir = exp_dir / spec.dir_name
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(spec.model_dump_json(indent=2), encoding="utf-8")
    (run_dir / "manifest.json").write_text(
        json.dumps(
            {"git_commit": "356a2fb", "hardware": "1x NVIDIA H100", "packages": {"vlmhb": "0.2"}}
        ),
        encoding="utf-8",
    )
    anls = [round(max(0.0, 1 - c), 4) if c < 0.5 else 0.0 for c in cer]
    _write_csv(
        run_dir / "answers.csv",
        pd.DataFrame(
            {
                "id": [s[0] for s in SAMPLES],
                "model_answer": answers,
                "error": ["" for _ in SAMPLES],
                "ttft_ms": [v * 0.3 for v in latency_ms],
                "latency_ms": latency_ms,
                "tpot_ms": [5.0] * len(SAMPLES),
                "prompt_tokens": [812] * len(SAMPLES),
                "completion_tokens": [9] * len(SAMPLES),
                "attempts": [1] * len(SAMPLES),
            }
        ),
    )
    by_id = pd.DataFrame(
        {
            "id": [s[0] for s in SAMPLES],
            "doc_class": [s[1] for s in SAMPLES],
            "question_type": [s[2] for s in SAMPLES],
            "answer": [s[3] for s in SAMPLES],
            "model_answer": answers,
            "error": ["" for _ in SAMPLES],
            "cer": cer,
            "anls": anls,
        }
    )
    _write_csv(run_dir / "metrics_by_id.csv", by_id)
    for keys, name in (
        (["doc_class", "question_type"], "metrics_by_doc_question.csv"),
        (["doc_class"], "metrics_by_doc_type.csv"),
    ):
        grouped = by_id.groupby(keys, sort=True)
        frame = grouped[["cer", "anls"]].mean().round(4)
        frame.insert(0, "n", grouped.size())
        frame["cer_micro"] = frame["cer"]
        frame["anls_micro"] = frame["anls"]
        _write_csv(run_dir / name, frame.reset_index())
    mean_cer = round(sum(cer) / len(cer), 4)
    mean_anls = round(sum(anls) / len(anls), 4)
    latency_p50 = float(pd.Series(latency_ms).median())
    _write_csv(
        run_dir / "metrics_general.csv",
        pd.DataFrame(
            [
                {
                    "metric": "cer",
                    "macro": mean_cer,
                    "micro": round(mean_cer * 0.9, 4),
                    "ci95_low": round(mean_cer * 0.5, 4),
                    "ci95_high": round(mean_cer * 1.5, 4),
                    "n": 5,
                },
                {
                    "metric": "anls",
                    "macro": mean_anls,
                    "micro": mean_anls,
                    "ci95_low": round(mean_anls * 0.8, 4),
                    "ci95_high": round(min(1.0, mean_anls * 1.1), 4),
                    "n": 5,
                },
                {"metric": "latency_ms_p50", "macro": latency_p50},
                {"metric": "ttft_ms_p50", "macro": latency_p50 * 0.3},
                {"metric": "error_rate", "macro": 0.0},
                {"metric": "throughput_rps", "macro": round(1000 / latency_p50, 4)},
            ]
        ),
    )
    if problems is not None:
        _write_csv(
            run_dir / "problems.csv",
            pd.DataFrame(problems, columns=["source", "field", "sample_id", "message"]),
        )
    return RunFixture(run_dir, spec, mean_cer, mean_anls, latency_p50)


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs" / EXPERIMENT
    path.mkdir(parents=True)
    return path


@pytest.fixture
def three_runs(exp_dir: Path) -> dict[str, RunFixture]:
    """Three models: fast and poor, slow and mediocre (dominated), slow and best."""
    return {
        "tesseract": write_run(
            exp_dir,
            "tesseract-rus",
            backend="tesseract",
            answers=["ИВAНОВ", "01.02.199O", "ПETPOBA", "1250", "None"],
            cer=[0.1667, 0.1, 0.4286, 0.375, 1.0],
            latency_ms=[110.0, 121.0, 130.0, 118.0, 125.0],
            problems=[
                ("annotation.csv:7", "answer_bbox", "6", "box [10, 20, 5, 8] is inverted"),
                ("annotation.csv:9", "image_path", "8", "image images/9.jpg not found"),
            ],
        ),
        "qwen3b": write_run(
            exp_dir,
            "qwen2.5-vl-3b",
            answers=["ИВАНОВ", "01.02.1990", "<b>ПЕТРОВ</b>|А", "1 250,00", "112-233-445 95"],
            cer=[0.0, 0.0, 0.7143, 0.0, 0.0],
            latency_ms=[1700.0, 1810.0, 1905.0, 1799.0, 1820.0],
        ),
        "qwen7b": write_run(
            exp_dir,
            "qwen2.5-vl-7b",
            answers=["ИВАНОВ", "01.02.1990", "ПЕТРОВА", "1 250,00", "112-233-445 96"],
            cer=[0.0, 0.0, 0.0, 0.0, 0.0714],
            latency_ms=[1400.0, 1450.0, 1510.0, 1480.0, 1525.0],
        ),
    }


@pytest.fixture
def stage_task() -> Callable[..., tuple[StageTask, StageContext, list[str]]]:
    """A ``StageTask``, its context and the list the context's log lines go to."""

    def build(
        stage: StageName,
        run_dir: Path,
        run_dirs: list[Path] | None = None,
    ) -> tuple[StageTask, StageContext, list[str]]:
        task = StageTask(
            id=f"{stage}-test",
            stage=stage,
            experiment=EXPERIMENT,
            run_dir=run_dir,
            run_dirs=run_dirs or [],
        )
        lines: list[str] = []
        ctx = StageContext(task, emit=lambda event: lines.append(event.message))
        return task, ctx, lines

    return build


@pytest.fixture
def experiment(
    exp_dir: Path, three_runs: dict[str, RunFixture], stage_task: Callable[..., Any]
) -> dict[str, Any]:
    """Run reports written, one run that never got metrics, then the experiment report."""
    for run in three_runs.values():
        task, ctx, _ = stage_task(StageName.REPORT, run.run_dir)
        assert RunReportStage().run(task, ctx).status is TaskState.COMPLETED
    failed = exp_dir / "broken-vlm__passport_vqa__passport__deadbeef"
    failed.mkdir()
    (failed / "answers.csv").write_text(
        "id;model_answer;error\n0;;CUDA out of memory\n", encoding="utf-8"
    )
    run_dirs = [three_runs[k].run_dir for k in ("qwen3b", "tesseract", "qwen7b")] + [failed]
    task, ctx, lines = stage_task(StageName.EXPERIMENT_REPORT, exp_dir, run_dirs)
    result = ExperimentReportStage().run(task, ctx)
    return {
        "result": result,
        "lines": lines,
        "failed": failed,
        "md": (exp_dir / "report.md").read_text(encoding="utf-8"),
        "html": (exp_dir / "report.html").read_text(encoding="utf-8"),
    }


_NEW_PLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*')


@pytest.fixture
def plotly_traces() -> Callable[[str], list[list[dict[str, Any]]]]:
    """The trace lists of every ``Plotly.newPlot`` call in an HTML page, as JSON."""

    def parse(html: str) -> list[list[dict[str, Any]]]:
        decoder = json.JSONDecoder()
        return [decoder.raw_decode(html, match.end())[0] for match in _NEW_PLOT.finditer(html)]

    return parse


CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",  # nothing listens: a fetch the routes miss fails too
]


@pytest.fixture
def browser_page() -> Iterator[Page]:
    """A page in headless Debian Chromium (Playwright on the system browser, none
    downloaded) with no network: only ``file://`` requests are served, any other is
    aborted, and the test fails if the page asked for one. Skips when Chromium is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    off_machine: list[str] = []

    def files_only(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            off_machine.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.route("**/*", files_only)
        yield context.new_page()
        browser.close()
    assert off_machine == [], f"the page asked the network for {off_machine}"
