"""Reports show the load each run's sessions recorded in inference_stats.json (the latest
session's, every value where sessions disagree), else the manifest's."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vlmhb.core.contracts import DatasetSpec, GenerationParams, ModelSpec, RunSpec, TaskSpec
from vlmhb.core.rundir import InferenceSession, RunDir, SessionLoad
from vlmhb.reporting.experiment import comparison_frame
from vlmhb.reporting.loading import load_run
from vlmhb.reporting.measured import measured_load
from vlmhb.reporting.run_report import build_run_report
from vlmhb.reporting.tables import render_markdown


def run_folder(tmp_path: Path, concurrency: int) -> Path:
    """A run with run.json and a manifest saying ``concurrency`` (as the planner writes)."""
    spec = RunSpec(
        experiment="exp",
        model=ModelSpec(name="m", backend="scripted", concurrency=concurrency),
        task=TaskSpec(name="t", dataset="d", metrics=["cer"]),
        dataset=DatasetSpec(name="d", format="vqa_csv", path=Path("d")),
        generation=GenerationParams(),
    )
    run_dir = tmp_path / spec.dir_name
    run_dir.mkdir()
    rows = [{"metric": "cer", "macro": 0.1, "n": 5}]
    pd.DataFrame(rows).to_csv(run_dir / "metrics_general.csv", sep=";", index=False)
    (run_dir / "run.json").write_text(spec.model_dump_json(), encoding="utf-8")
    manifest = {"run_id": spec.run_id, "inference": spec.measurement()}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir


def session(run_dir: Path, name: str, **load: object) -> None:
    values: dict[str, object] = {
        "concurrency": 4,
        "effective_concurrency": 4,
        "lowest_concurrency": 4,
        "adaptive_concurrency": True,
        "request_rate": None,
        "arrivals": "poisson",
        "seed": 0,
        "warmup": 0,
        "stream": True,
    }
    record = InferenceSession(
        session=name, complete=True, requests=3, load=SessionLoad.model_validate(values | load)
    )
    RunDir(run_dir).record_session(record)


def spec_table(run_dir: Path) -> str:
    return render_markdown(build_run_report(load_run(run_dir)).spec)


def test_the_sessions_load_is_preferred_and_disagreements_shown(tmp_path: Path) -> None:
    run_dir = run_folder(tmp_path, concurrency=8)
    session(run_dir, "a", lowest_concurrency=2, request_rate=2.5, warmup=1)
    session(
        run_dir,
        "b",
        concurrency=8,
        effective_concurrency=3,
        lowest_concurrency=3,
        adaptive_concurrency=False,
        warmup=1,
        stream=False,
    )
    table = spec_table(run_dir)
    assert "| concurrency | 4 / 8 |" in table
    assert "| effective concurrency | 4 (adaptive, lowest 2) / 3 (fixed) |" in table
    assert "| request rate | 2.5 req/s / unlimited |" in table
    assert "| arrivals | poisson (seed 0) / all at once |" in table
    assert "| warm-up requests | 1 |" in table and "| stream | yes / no |" in table
    load = measured_load(load_run(run_dir))
    assert load is not None and (load.concurrency, load.request_rate) == (8, None)
    assert load.source == "inference_stats.json"
    frame = comparison_frame([load_run(run_dir)], ["cer"], [])
    assert list(frame["concurrency"]) == [8] and list(frame["request_rate"]) == ["2.5 / unlimited"]


def test_one_session_shows_single_values(tmp_path: Path) -> None:
    run_dir = run_folder(tmp_path, concurrency=4)
    session(run_dir, "a", request_rate=10, arrivals="constant", warmup=2)
    table = spec_table(run_dir)
    assert "| concurrency | 4 |" in table and "| request rate | 10 req/s |" in table
    assert "| effective concurrency | 4 (adaptive, lowest 4) |" in table
    assert "| arrivals | constant |" in table and "| warm-up requests | 2 |" in table


def test_sessions_without_a_load_record_fall_back_to_the_manifest(tmp_path: Path) -> None:
    run_dir = run_folder(tmp_path, concurrency=8)
    RunDir(run_dir).record_session(InferenceSession(session="old", complete=True, requests=3))
    table = spec_table(run_dir)
    assert "| concurrency | 8 |" in table and "| request rate | unlimited |" in table
    assert "effective concurrency" not in table
    (run_dir / "manifest.json").unlink()
    assert "| concurrency | 8 (configured, run.json) |" in spec_table(run_dir)
