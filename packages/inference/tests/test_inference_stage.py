"""The inference stage end to end: real server subprocess, answers.csv, resume, kill -9."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from vlmhb.core.contracts import Event, EventType, StageTask, TaskState
from vlmhb.core.errors import VlmhbError
from vlmhb.core.files import ANSWER_COLUMNS
from vlmhb.core.rundir import AnswersFile
from vlmhb.core.stages import StageContext
from vlmhb.inference.stage import InferenceStage

HEADER = ";".join(ANSWER_COLUMNS) + "\n"
LEGACY_HEADER = ";".join(ANSWER_COLUMNS[:9]) + "\n"  # answers.csv of v0.2 and earlier


def read_answers(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "answers.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def requested(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def run_stage(
    task: StageTask, events: list[Event] | None = None, ctx: StageContext | None = None
) -> Any:
    ctx = ctx or StageContext(task, emit=(events.append if events is not None else None))
    return InferenceStage(backoff_s=0.01).run(task, ctx)


def test_full_run_answers_every_sample_once_with_timings(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 30)
    task = task_factory(tmp_path, {"ttft_ms": 2, "latency_ms": 6}, concurrency=4)
    events: list[Event] = []
    result = run_stage(task, events)
    rows = read_answers(tmp_path)
    assert sorted(int(r["id"]) for r in rows) == list(range(30))
    for row in rows:
        assert row["model_answer"] == f"answer {row['id']}" and row["error"] == ""
        assert float(row["ttft_ms"]) <= float(row["latency_ms"])
        assert float(row["tpot_ms"]) >= 0
        assert [row["prompt_tokens"], row["completion_tokens"], row["attempts"]] == ["2", "2", "1"]
    assert result.status == TaskState.COMPLETED
    assert result.summary["samples"] == 30 and result.summary["answered"] == 30
    assert result.summary["errors"] == 0 and result.summary["latency_ms_mean"] > 0
    progress = [e for e in events if e.type == EventType.PROGRESS]
    assert (progress[0].done, progress[-1].done, progress[-1].total) == (0, 30, 30)
    again = run_stage(task)
    assert again.summary["resumed"] == 30 and again.summary["answered"] == 0
    assert (tmp_path / "server.log").read_text().count("--- vlmhb-api start") == 1


def test_resume_skips_finished_rows_and_cuts_a_partial_one(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 30)
    finished = "".join(f"{i};old {i};;1.000;2.000;;2;2;1\n" for i in range(10))
    (tmp_path / "answers.csv").write_text(
        LEGACY_HEADER + finished + "10;half-writ", encoding="utf-8"
    )
    log = tmp_path / "requests.log"
    result = run_stage(task_factory(tmp_path, {"request_log": str(log)}))
    rows = read_answers(tmp_path)
    assert Counter(r["id"] for r in rows) == Counter(str(i) for i in range(30))
    assert [r["model_answer"] for r in rows[:10]] == [f"old {i}" for i in range(10)]
    assert sorted(requested(log), key=int) == [str(i) for i in range(10, 30)]
    assert result.summary["resumed"] == 10 and result.summary["answered"] == 20


def test_server_errors_are_retried_then_recorded_and_the_run_goes_on(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 8)
    task = task_factory(tmp_path, {"fail_ids": ["3"], "fail_first_n": 1}, retries=2)
    result = run_stage(task)
    rows = {r["id"]: r for r in read_answers(tmp_path)}
    assert len(rows) == 8
    assert rows["3"]["model_answer"] == "" and rows["3"]["attempts"] == "3"
    assert rows["3"]["error"].startswith("HTTP 500") and "fail_ids" in rows["3"]["error"]
    assert all(r["error"] == "" and r["attempts"] == "2" for k, r in rows.items() if k != "3")
    assert result.status == TaskState.COMPLETED and result.summary["errors"] == 1


def test_cancel_stops_early_and_a_rerun_finishes(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 40)
    task = task_factory(tmp_path, {"latency_ms": 20}, concurrency=2)
    holder: dict[str, StageContext] = {}

    def emit(event: Event) -> None:
        if event.type == EventType.PROGRESS and (event.done or 0) >= 6:
            holder["ctx"].cancelled.set()

    holder["ctx"] = StageContext(task, emit=emit)
    first = run_stage(task, ctx=holder["ctx"])
    assert first.status == TaskState.CANCELLED and 6 <= first.summary["answered"] < 40
    second = run_stage(task)
    assert second.status == TaskState.COMPLETED
    assert second.summary["resumed"] == first.summary["answered"]
    assert Counter(r["id"] for r in read_answers(tmp_path)) == Counter(map(str, range(40)))


KILLABLE = """
import sys
from vlmhb.core.contracts import StageTask
from vlmhb.core.stages import StageContext
from vlmhb.inference.stage import InferenceStage
task = StageTask.model_validate_json(open(sys.argv[1], encoding="utf-8").read())
InferenceStage().run(task, StageContext(task))
"""


def test_sigkill_then_rerun_answers_every_sample_exactly_once(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    samples_factory(tmp_path, 40)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    task = task_factory(tmp_path, {"latency_ms": 40, "request_log": str(first_log)}, concurrency=2)
    task_file = tmp_path / "task.json"
    task_file.write_text(task.model_dump_json(), encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-c", KILLABLE, str(task_file)])
    try:
        answers = tmp_path / "answers.csv"
        while not answers.exists() or answers.read_text(encoding="utf-8").count("\n") < 8:
            assert child.poll() is None, "stage exited before it could be killed"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    before = set(AnswersFile(tmp_path / "answers.csv").recover())
    assert 7 <= len(before) < 40

    rerun = task_factory(tmp_path, {"request_log": str(second_log)}, concurrency=2)
    result = run_stage(rerun)
    ids = [r["id"] for r in read_answers(tmp_path)]
    assert Counter(ids) == Counter(map(str, range(40)))
    again = requested(second_log)
    assert not before & set(again)
    assert len(again) == len(set(again)) == 40 - len(before) == result.summary["answered"]


def test_only_evaluate_never_asks_the_model(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    """Legacy ``only_evaluate_metrics``: answers must already be there; missing ones are a
    clear error, and no request is ever sent."""
    import pytest

    from vlmhb.core.errors import VlmhbError

    samples_factory(tmp_path, 5)
    log = tmp_path / "requests.log"
    task = task_factory(tmp_path, {"request_log": str(log)})
    assert task.run is not None
    task.run.task.only_evaluate = True
    (tmp_path / "answers.csv").write_text(
        LEGACY_HEADER + "".join(f"{i};given {i};;;;;;;\n" for i in range(3)), encoding="utf-8"
    )
    with pytest.raises(VlmhbError, match=r"2 of 5 samples have no row.*first: 3, 4"):
        run_stage(task)
    (tmp_path / "answers.csv").write_text(
        LEGACY_HEADER + "".join(f"{i};given {i};;;;;;;\n" for i in range(5)), encoding="utf-8"
    )
    result = run_stage(task)
    assert result.status == TaskState.COMPLETED and result.summary["resumed"] == 5
    assert not log.exists() and not (tmp_path / "server.log").exists()


def test_only_evaluate_takes_the_id_model_answer_file_it_asks_for(
    tmp_path: Path, samples_factory: Any, task_factory: Any
) -> None:
    """The only_evaluate error asks for ``columns id;model_answer``: the evaluation stage
    read such a file, the inference stage's recovery refused its header."""
    samples_factory(tmp_path, 3)
    log = tmp_path / "requests.log"
    task = task_factory(tmp_path, {"request_log": str(log)})
    assert task.run is not None
    task.run.task.only_evaluate = True
    (tmp_path / "answers.csv").write_text(
        "id;model_answer\n" + "".join(f"{i};given {i}\n" for i in range(3)), encoding="utf-8"
    )
    result = run_stage(task)
    assert result.status == TaskState.COMPLETED and result.summary["resumed"] == 3
    assert [(r["id"], r["model_answer"]) for r in read_answers(tmp_path)] == [
        (str(i), f"given {i}") for i in range(3)
    ]
    assert not log.exists()


def test_a_fresh_run_boots_its_server_while_preparing_and_stops_it_if_that_fails(
    tmp_path: Path, task_factory: Any
) -> None:
    task = task_factory(tmp_path, {})  # no annotation file: preparing the samples fails
    with pytest.raises(VlmhbError):
        run_stage(task)
    assert "--- vlmhb-api start" in (tmp_path / "server.log").read_text()  # it was booting
    servers = [
        p
        for p in psutil.Process().children(recursive=True)
        if "vlmhb.inference.cli" in " ".join(p.cmdline())
    ]
    assert servers == []  # and it was stopped with the failure
