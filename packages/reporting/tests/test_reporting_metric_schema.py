"""Reports take a metric's direction from the run's metrics_schema.json (or, for runs
evaluated before it existed, from the metric registry), never from its name; they show the
concurrency and request rate each run was measured under."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vlmhb.core.contracts import (
    DatasetSpec,
    GenerationParams,
    LoadSpec,
    ModelSpec,
    RunSpec,
    StageName,
    StageTask,
    TaskSpec,
)
from vlmhb.core.metric_info import MetricInfo, MetricsSchema, write_metrics_schema
from vlmhb.core.speed import SPEED_ROWS
from vlmhb.core.stages import StageContext
from vlmhb.reporting.experiment import load_experiment
from vlmhb.reporting.loading import load_run
from vlmhb.reporting.run_report import build_run_report
from vlmhb.reporting.stage import ExperimentReportStage
from vlmhb.reporting.tables import render_markdown

# A plugin metric whose name a guess reads as "higher is better".
HALLUCINATION = MetricInfo(
    name="hallucination_rate", kind="quality", higher_is_better=False, unit="fraction"
)


def write_general(run_dir: Path, values: dict[str, float]) -> Path:
    run_dir.mkdir(parents=True)
    rows = [{"metric": name, "macro": value, "n": 5} for name, value in values.items()]
    pd.DataFrame(rows).to_csv(run_dir / "metrics_general.csv", sep=";", index=False)
    return run_dir


def experiment_report(
    exp_dir: Path, run_dirs: list[Path], registry_dirs: list[Path] | None = None
) -> pd.DataFrame:
    task = StageTask(
        id="experiment_report",
        stage=StageName.EXPERIMENT_REPORT,
        experiment="exp",
        run_dir=exp_dir,
        run_dirs=run_dirs,
        registry_dirs=registry_dirs or [],
    )
    ExperimentReportStage().run(task, StageContext(task))
    return pd.read_csv(exp_dir / "comparison.csv", sep=";")


def test_directions_come_from_the_schema_not_the_name(tmp_path: Path) -> None:
    """hallucination_rate is declared lower-is-better; itl_ms_mean, queue_ms_p50 and
    peak_rss_mib are speed rows where lower is better (the web UI guessed them higher)."""
    exp = tmp_path / "exp"
    runs = []
    for name, rate, itl in (("a__t__p", 0.4, 9.0), ("b__t__p", 0.1, 30.0)):
        values = {"hallucination_rate": rate, "itl_ms_mean": itl, "queue_ms_p50": 1.0}
        run_dir = write_general(exp / name, values | {"peak_rss_mib": 100.0 + itl})
        names = ["itl_ms_mean", "queue_ms_p50", "peak_rss_mib"]
        schema = MetricsSchema.of([HALLUCINATION, *(SPEED_ROWS[n] for n in names)])
        write_metrics_schema(run_dir, schema)
        runs.append(run_dir)
    comparison = experiment_report(exp, runs)
    assert list(comparison["run"]) == ["b__t__p", "a__t__p"]  # the lower rate first
    data = load_experiment(exp, runs)
    assert data.higher_is_better["hallucination_rate"] is False
    assert data.schema.direction("itl_ms_mean") is False
    assert data.schema.direction("queue_ms_p50") is False
    assert data.schema.direction("peak_rss_mib") is False
    report = (exp / "report.md").read_text(encoding="utf-8")
    assert "Sorted by hallucination_rate (lower is better)" in report
    assert "**0.1000**" in report and "**0.4000**" not in report


def test_runs_without_a_schema_use_the_registry_metadata(tmp_path: Path) -> None:
    """A registry variant of cer (lower is better) with a name that reads as a score, in
    runs evaluated before metrics_schema.json: its base metric's direction is used."""
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "metrics.yaml").write_text(
        "- {kind: metric, name: char_score, base: cer, options: {casefold: true}}\n",
        encoding="utf-8",
    )
    exp = tmp_path / "exp"
    runs = [
        write_general(exp / "a__t__p", {"char_score": 0.5, "mystery": 3.0}),
        write_general(exp / "b__t__p", {"char_score": 0.2, "mystery": 1.0}),
    ]
    comparison = experiment_report(exp, runs, [registry])
    assert list(comparison["run"]) == ["b__t__p", "a__t__p"]
    report = (exp / "report.md").read_text(encoding="utf-8")
    assert "**3.0000**" not in report and "**1.0000**" not in report  # mystery: not ranked


def test_a_row_the_schema_lacks_is_described_from_the_registry(tmp_path: Path) -> None:
    run_dir = write_general(tmp_path / "r", {"hallucination_rate": 0.2, "cer": 0.1})
    write_metrics_schema(run_dir, MetricsSchema.of([HALLUCINATION]))
    data = load_run(run_dir)
    assert data.quality_metrics == ["hallucination_rate", "cer"]
    assert data.schema.direction("cer") is False  # the registry's cer


def measured_run(exp: Path, name: str, concurrency: int, rate: float | None) -> Path:
    """A run with run.json and manifest.json, as the planner and inference stage write."""
    spec = RunSpec(
        experiment="exp",
        model=ModelSpec(
            name=name,
            backend="scripted",
            concurrency=concurrency,
            load=LoadSpec(request_rate=rate),
        ),
        task=TaskSpec(name="t", dataset="d", metrics=["cer"]),
        dataset=DatasetSpec(name="d", format="vqa_csv", path=Path("d")),
        generation=GenerationParams(),
    )
    run_dir = write_general(exp / spec.dir_name, {"cer": 0.1, "latency_ms_p50": 100.0})
    (run_dir / "run.json").write_text(spec.model_dump_json(), encoding="utf-8")
    measured = {"concurrency": concurrency, "load": spec.model.load.model_dump(mode="json")}
    manifest = {"run_id": spec.run_id, "inference": measured}  # RunSpec.measurement()
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir


def test_reports_show_concurrency_and_request_rate(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    runs = [measured_run(exp, "m1", 8, 2.5), measured_run(exp, "m2", 1, None)]
    spec_table = render_markdown(build_run_report(load_run(runs[0])).spec)
    assert "| concurrency | 8 |" in spec_table
    assert "| request rate | 2.5 req/s |" in spec_table
    comparison = experiment_report(exp, runs).set_index("model")
    assert comparison.loc["m1", "concurrency"] == 8
    assert comparison.loc["m1", "request_rate"] == "2.5"
    assert comparison.loc["m2", "request_rate"] == "unlimited"
    header = next(line for line in (exp / "report.md").read_text().splitlines() if "| run" in line)
    assert "| prompt | concurrency | request_rate | cer |" in header
