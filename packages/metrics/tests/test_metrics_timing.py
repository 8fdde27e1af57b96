"""Timing rows of metrics_general.csv: per-request percentiles, throughput from
inference_stats.json, SLO goodput, server memory peaks; old answers.csv files still work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from vlmhb.core.contracts import LoadSpec, PreparedSample
from vlmhb.core.files import ANSWER_COLUMNS, METRICS_FILES
from vlmhb.core.metric_info import read_metrics_schema
from vlmhb.core.speed import SPEED_ROWS
from vlmhb.core.stages import StageContext
from vlmhb.metrics.runfiles import AnswerRow
from vlmhb.metrics.stage import EvaluationStage
from vlmhb.metrics.timing import timing_rows

from .metrics_stage_helpers import make_task, write_answers, write_samples

N = 10


def run_dir_with(tmp_path: Path, stats: dict[str, object] | None) -> Path:
    write_samples(
        tmp_path, [PreparedSample(id=str(i), answer="abc", user_prompt="q") for i in range(N)]
    )
    rows = []
    for i in range(N):
        failed = i == N - 1
        rows.append(
            {
                "id": str(i),
                "model_answer": "" if failed else "abc",
                "error": "HTTP 500: x" if failed else "",
                "attempts": 1,
                "error_type": "http_5xx" if failed else "",
                "ttft_ms": "" if failed else 10.0 * (i + 1),
                "latency_ms": "" if failed else 100.0 + i,
                "tpot_ms": "" if failed else 2.0 + i,
                "completion_tokens": 5,
                "queue_ms": float(i),
                "itl_ms_mean": "" if failed else 1.0 + i,
                "itl_ms_max": "" if failed else 3.0 + i,
            }
        )
    write_answers(tmp_path, rows)
    if stats is not None:
        (tmp_path / "inference_stats.json").write_text(json.dumps(stats), encoding="utf-8")
    return tmp_path


def evaluate(run_dir: Path, load: dict[str, object] | None = None) -> pd.DataFrame:
    """Score the run with the model's ``load`` settings (its SLO) set to ``load``."""
    task = make_task(run_dir, ["exact_match"])
    assert task.run is not None
    if load:
        model = task.run.model.model_copy(update={"load": LoadSpec.model_validate(load)})
        task = task.model_copy(update={"run": task.run.model_copy(update={"model": model})})
    EvaluationStage().run(task, StageContext(task))
    frame = pd.read_csv(run_dir / METRICS_FILES["general"], sep=";")
    return frame.set_index("metric")


def test_timing_rows_throughput_goodput_and_peaks(tmp_path: Path) -> None:
    stats = {
        "active_s": 2.0,
        "requests": N,
        "peak_rss_bytes": 512 * 1024 * 1024,
        "sessions": [{"active_s": 2.0, "requests": N, "errors": 1}],
    }
    general = evaluate(run_dir_with(tmp_path, stats), {"slo": "ttft:50,tpot:5"})
    ttft = [10.0 * (i + 1) for i in range(N - 1)]
    for stat, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        assert general.loc[f"ttft_ms_{stat}", "macro"] == pytest.approx(np.percentile(ttft, q))
    assert general.loc["ttft_ms_mean", "n"] == N - 1
    assert general.loc["queue_ms_mean", "macro"] == pytest.approx(np.mean(range(N)))
    assert general.loc["queue_ms_mean", "n"] == N  # every request queued, errors too
    assert general.loc["itl_ms_p50", "macro"] == pytest.approx(
        np.median([1.0 + i for i in range(N - 1)])
    )
    assert general.loc["itl_ms_max", "macro"] == 3.0 + N - 2
    assert general.loc["error_rate", "macro"] == pytest.approx(1 / N)
    assert general.loc["throughput_rps", "macro"] == pytest.approx((N - 1) / 2.0)
    assert general.loc["throughput_output_tok_s", "macro"] == pytest.approx(5 * (N - 1) / 2)
    assert general.loc["duration_inference_s", "macro"] == 2.0
    # ttft <= 50 for i = 0..4, tpot <= 5 for i = 0..3 → 4 requests of 10
    assert general.loc["goodput_fraction", "macro"] == pytest.approx(4 / N)
    assert general.loc["goodput_rps", "macro"] == pytest.approx(4 / 2.0)
    assert general.loc["peak_rss_mib", "macro"] == 512.0
    assert "peak_gpu_mib" not in general.index


def test_without_stats_or_slo_throughput_is_empty_and_no_goodput(tmp_path: Path) -> None:
    general = evaluate(run_dir_with(tmp_path, None))
    assert np.isnan(general.loc["throughput_rps", "macro"])
    assert "goodput_fraction" not in general.index and "peak_rss_mib" not in general.index


def test_legacy_answers_without_new_columns(tmp_path: Path) -> None:
    write_samples(tmp_path, [PreparedSample(id="0", answer="a", user_prompt="q")])
    write_answers(
        tmp_path, [{"id": "0", "model_answer": "a", "latency_ms": 12.0}], columns=ANSWER_COLUMNS[:9]
    )
    general = evaluate(tmp_path)
    assert general.loc["latency_ms_p50", "macro"] == 12.0
    assert general.loc["queue_ms_mean", "n"] == 0 and general.loc["itl_ms_max", "n"] == 0


def test_bad_slo_is_refused_by_the_load_spec() -> None:
    with pytest.raises(ValidationError, match="unknown SLO"):
        LoadSpec.model_validate({"slo": "speed:3"})
    with pytest.raises(ValidationError, match="must be > 0"):
        LoadSpec.model_validate({"slo": {"ttft": 0}})
    assert LoadSpec.model_validate({"slo": "latency:100, TTFT:5"}).slo == {
        "e2el": 100.0,
        "ttft": 5.0,
    }
    assert LoadSpec.model_validate({"slo": {"latency": 100}}).slo == {"e2el": 100.0}


def test_missing_ttft_is_judged_by_latency() -> None:
    rows = [
        AnswerRow(id="a", model_answer="x", latency_ms=80.0),
        AnswerRow(id="b", model_answer="x", latency_ms=120.0),
    ]
    records = {r["metric"]: r["macro"] for r in timing_rows(rows, slo={"ttft": 100.0})}
    assert records["goodput_fraction"] == 0.5


def test_metrics_schema_describes_every_row_of_the_general_file(tmp_path: Path) -> None:
    """metrics_schema.json beside the metrics files: each quality metric's own metadata
    (CER lower-is-better, unbounded), each speed row's from vlmhb.core.speed."""
    stats = {"active_s": 2.0, "requests": N, "peak_rss_bytes": 1.0, "sessions": [{}]}
    run_dir = run_dir_with(tmp_path, stats)
    task = make_task(run_dir, ["exact_match", "cer"])
    assert task.run is not None
    model = task.run.model.model_copy(update={"load": LoadSpec(slo={"ttft": 50})})
    task = task.model_copy(update={"run": task.run.model_copy(update={"model": model})})
    EvaluationStage().run(task, StageContext(task))
    schema = read_metrics_schema(run_dir)
    assert schema is not None
    general = pd.read_csv(run_dir / METRICS_FILES["general"], sep=";")
    assert list(schema.metrics) == list(general["metric"])
    cer, exact = schema.metrics["cer"], schema.metrics["exact_match"]
    assert (cer.kind, cer.higher_is_better, cer.range) == ("quality", False, (0.0, None))
    assert (exact.higher_is_better, exact.range, exact.unit) == (True, (0.0, 1.0), "fraction")
    for name in ("itl_ms_mean", "queue_ms_p50", "peak_rss_mib", "goodput_rps", "sessions"):
        assert schema.metrics[name] == SPEED_ROWS[name]
    assert schema.direction("itl_ms_mean") is False and schema.direction("goodput_rps")
