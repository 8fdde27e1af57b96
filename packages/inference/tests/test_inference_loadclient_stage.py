"""The inference stage with the load client: new answers.csv columns, legacy resume,
``inference_stats.json`` merged across sessions, load options."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vlmhb.core.contracts import LoadSpec, StageTask
from vlmhb.core.files import ANSWER_COLUMNS, INFERENCE_STATS_FILE
from vlmhb.core.rundir import RunDir
from vlmhb.core.stages import StageContext
from vlmhb.inference.stage import InferenceStage, load_config


def run_stage(task: StageTask) -> Any:
    return InferenceStage(backoff_s=0.01).run(task, StageContext(task))


def rows(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (run_dir / "answers.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        return list(reader.fieldnames or []), list(reader)


def test_stage_writes_new_columns_and_session_stats(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 12)
    task = task_factory(
        tmp_path, {"ttft_ms": 5, "latency_ms": 15, "fail_ids": ["3"]}, concurrency=3, retries=1
    )
    result = run_stage(task)
    header, answers = rows(tmp_path)
    assert header == ANSWER_COLUMNS
    by_id = {r["id"]: r for r in answers}
    good = by_id["0"]  # "answer 0": two chunks → one inter-chunk gap
    assert float(good["queue_ms"]) >= 0 and good["error_type"] == ""
    assert float(good["itl_ms_mean"]) == float(good["itl_ms_max"]) > 0
    assert by_id["3"]["error_type"] == "http_5xx" and by_id["3"]["attempts"] == "2"
    stats = json.loads((tmp_path / INFERENCE_STATS_FILE).read_text(encoding="utf-8"))
    assert stats["requests"] == 12 and len(stats["sessions"]) == 1
    assert stats["sessions"][0]["errors"] == 1
    assert stats["peak_rss_bytes"] > 1_000_000  # read from the wrapper's /metrics
    assert stats["active_s"] > 0
    assert stats["active_s"] == pytest.approx(result.summary["active_s"], abs=1e-3)
    assert INFERENCE_STATS_FILE in result.outputs


def test_resumed_legacy_run_is_upgraded_and_stats_are_merged(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 8)
    legacy = (
        ";".join(ANSWER_COLUMNS[:9])
        + "\n"
        + "".join(f"{i};old {i};;1.000;2.000;;2;2;1\n" for i in range(5))
    )
    (tmp_path / "answers.csv").write_text(legacy, encoding="utf-8")
    (tmp_path / INFERENCE_STATS_FILE).write_text(
        json.dumps(
            {"sessions": [{"active_s": 4.5, "requests": 5, "errors": 0, "peak_rss_bytes": 1e12}]}
        ),
        encoding="utf-8",
    )
    result = run_stage(task_factory(tmp_path, {}))
    assert result.summary["resumed"] == 5 and result.summary["answered"] == 3
    header, answers = rows(tmp_path)
    assert header == ANSWER_COLUMNS and len(answers) == 8
    assert answers[0]["model_answer"] == "old 0" and answers[0]["queue_ms"] == ""
    assert answers[7]["queue_ms"] != ""
    stats = json.loads((tmp_path / INFERENCE_STATS_FILE).read_text(encoding="utf-8"))
    assert len(stats["sessions"]) == 2 and stats["requests"] == 8
    assert stats["active_s"] > 4.5 and stats["peak_rss_bytes"] == 1e12


def test_load_settings_come_from_the_models_load_spec(tmp_path: Path, task_factory: Any) -> None:
    task = task_factory(
        tmp_path, {}, load={"request_rate": 20, "arrivals": "constant", "warmup": 2, "seed": 3}
    )
    assert task.run is not None
    config = load_config(task.run)
    assert (config.request_rate, config.arrivals, config.warmup, config.seed) == (
        20.0,
        "constant",
        2,
        3,
    )
    assert load_config(task_factory(tmp_path, {}).run).request_rate == math.inf
    with pytest.raises(ValidationError, match="arrivals"):
        LoadSpec.model_validate({"arrivals": "burst"})
    with pytest.raises(ValidationError, match="greater than 0"):
        LoadSpec.model_validate({"request_rate": 0})
    assert LoadSpec.model_validate({"request_rate": "inf"}).request_rate is None


def test_warmup_and_request_rate_in_the_stage(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 6)
    log = tmp_path / "requests.log"
    task = task_factory(
        tmp_path,
        {"request_log": str(log)},
        load={"warmup": 2, "request_rate": 100, "arrivals": "constant"},
    )
    result = run_stage(task)
    sent = log.read_text(encoding="utf-8").split()
    # warm-up: samples 0 and 1 once more, before the recorded ones
    assert len(sent) == 8 and sorted(sent[:2]) == ["0", "1"]
    assert sorted(sent[2:]) == [str(i) for i in range(6)]
    assert result.summary["answered"] == 6 and len(rows(tmp_path)[1]) == 6
    assert result.summary["active_s"] >= 0.05  # the 6th request arrives 50 ms in


def test_each_session_records_the_load_it_ran_under(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    """Configured concurrency 8, resumed with 3 of 5 samples left: it ran at 3. The rate,
    arrivals, seed, warm-up and stream flag are those of the spec."""
    samples_factory(tmp_path, 5)
    load = {
        "warmup": 1,
        "request_rate": 50,
        "arrivals": "constant",
        "seed": 7,
        "adaptive_concurrency": False,
    }
    answered = "".join(f"{i};old {i};;1.000;2.000;;2;2;1\n" for i in range(2))
    (tmp_path / "answers.csv").write_text(
        ";".join(ANSWER_COLUMNS[:9]) + "\n" + answered, encoding="utf-8"
    )
    run_stage(task_factory(tmp_path, {}, concurrency=8, load=load, stream=False))
    stats = RunDir(tmp_path).read_stats()
    assert stats is not None and len(stats.sessions) == 1
    recorded = stats.sessions[0].load
    assert recorded is not None
    assert recorded.model_dump() == {
        "concurrency": 8,
        "effective_concurrency": 3,
        "lowest_concurrency": 3,
        "adaptive_concurrency": False,
        "request_rate": 50.0,
        "arrivals": "constant",
        "seed": 7,
        "warmup": 1,
        "stream": False,
    }


def test_adaptive_concurrency_records_the_lowest_limit(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    """Every sample's first request gets HTTP 500: the adaptive limiter halves the limit,
    and the session's record says how low it went."""
    samples_factory(tmp_path, 12)
    task = task_factory(tmp_path, {"fail_first_n": 1}, concurrency=4, retries=2)
    result = run_stage(task)
    assert result.summary["errors"] == 0
    stats = RunDir(tmp_path).read_stats()
    assert stats is not None
    recorded = stats.sessions[0].load
    assert recorded is not None and recorded.adaptive_concurrency and recorded.stream
    assert (recorded.concurrency, recorded.effective_concurrency) == (4, 4)
    assert 1 <= recorded.lowest_concurrency < 4
    assert recorded.request_rate is None and recorded.warmup == 0
