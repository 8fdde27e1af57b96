"""The run folder's owner (``vlmhb.core.rundir``): typed round-trips, bad rows named by
``file:line``, old answers.csv headers, and the cases where the readers it replaced
disagreed (long answers, hand-made answer files, damaged stats and samples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmhb.core.contracts import PreparedSample, RowProblem
from vlmhb.core.errors import ConfigError, VlmhbError
from vlmhb.core.files import (
    ANSWER_COLUMNS,
    INFERENCE_STATS_FILE,
    LEGACY_ANSWER_COLUMNS,
    TIMING_COLUMNS,
)
from vlmhb.core.prepare import read_prepared_samples
from vlmhb.core.rundir import AnswerRow, InferenceSession, InferenceStats, RunDir, SessionLoad

HEADER = ";".join(ANSWER_COLUMNS) + "\n"


def test_answer_row_fields_are_the_file_columns() -> None:
    assert list(AnswerRow.model_fields) == ANSWER_COLUMNS
    assert set(TIMING_COLUMNS) == set(ANSWER_COLUMNS) - {
        "id",
        "model_answer",
        "error",
        "error_type",
    }


def test_answers_round_trip(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    rows = [
        AnswerRow(
            id="1",
            model_answer='a;b\n"c"',
            ttft_ms=1.5,
            latency_ms=3.25,
            tpot_ms=0.5,
            prompt_tokens=7,
            completion_tokens=2,
            attempts=1,
            queue_ms=0.0,
            itl_ms_mean=0.25,
            itl_ms_max=0.75,
        ),
        AnswerRow(id="2", error="HTTP 500: boom", attempts=4, error_type="http_5xx"),
    ]
    with folder.answers_file() as answers:
        assert answers.recover() == []
        for row in rows:
            answers.append(row)
    read, problems = folder.read_answers()
    assert problems == []
    assert list(read.values()) == rows
    assert read["2"].prediction == "" and read["1"].prediction == 'a;b\n"c"'
    assert read["1"].timings["prompt_tokens"] == 7.0 and read["2"].timings["ttft_ms"] is None
    assert folder.count_answers() == 2


def test_bad_answer_cells_name_file_and_line(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    folder.answers_path.write_text(
        HEADER
        + "1;ok;;;12,5;;;;1;;;;\n"  # a decimal comma is a number
        + '2;"two\nlines";;;fast;;;;1;;;;\n'  # line 3-4: the row's last line counts
        + "3;x;;;1;;;3.5;1;;;;\n"  # a fraction of a token
        + "1;again;;;;;;;1;;;;\n"
        + ";no id;;;;;;;;;;;\n",
        encoding="utf-8",
    )
    rows, problems = folder.read_answers()
    assert rows["1"].latency_ms == 12.5 and rows["1"].model_answer == "ok"
    assert rows["2"].latency_ms is None and rows["3"].completion_tokens is None
    assert [(p.source, p.field, p.sample_id) for p in problems] == [
        ("answers.csv:4", "latency_ms", "2"),
        ("answers.csv:5", "completion_tokens", "3"),
        ("answers.csv:6", "id", "1"),
        ("answers.csv:7", "id", None),
    ]
    assert "not a number: 'fast'" in problems[0].message
    assert "not a whole number: '3.5'" in problems[1].message
    assert problems[2].message == "repeated id, first answer kept"


def test_answers_without_required_columns_name_the_header(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    with pytest.raises(ConfigError, match=r"answers file not found"):
        folder.read_answers()
    folder.answers_path.write_text("id;answer\n1;x\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"answers\.csv:1: missing column\(s\) \['model_answer'\]"
    ):
        folder.read_answers()
    assert folder.count_answers() == 1


def test_legacy_header_reads_and_is_upgraded_on_recover(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    legacy = ";".join(LEGACY_ANSWER_COLUMNS) + "\n" + "1;a;;10;20;;3;4;1\n"
    folder.answers_path.write_text(legacy, encoding="utf-8")
    rows, problems = folder.read_answers()
    assert problems == [] and rows["1"].latency_ms == 20.0 and rows["1"].queue_ms is None
    assert folder.answers_file().recover() == ["1"]
    assert folder.answers_path.read_text(encoding="utf-8") == HEADER + "1;a;;10;20;;3;4;1;;;;\n"
    assert folder.read_answers()[0] == rows


def test_hand_made_answer_file_resumes(tmp_path: Path) -> None:
    """The inference stage tells an ``only_evaluate`` user to give ``id;model_answer``;
    the evaluation reader took such a file, the inference recovery refused its header."""
    folder = RunDir(tmp_path)
    folder.answers_path.write_text("model_answer;id\nfirst;a\nsecond;b\n", encoding="utf-8")
    assert folder.answers_file().recover() == ["a", "b"]
    assert folder.answers_path.read_text(encoding="utf-8") == (
        HEADER + "a;first;;;;;;;;;;;\nb;second;;;;;;;;;;;\n"
    )
    for foreign in ("id;answer\n1;x\n", "id;id;model_answer\n1;1;x\n"):
        folder.answers_path.write_text(foreign, encoding="utf-8")
        with pytest.raises(VlmhbError, match="header"):
            folder.answers_file().recover()


def test_a_long_answer_is_kept(tmp_path: Path) -> None:
    """An answer over the csv module's default 128 KiB field limit: the evaluation reader
    raised csv.Error and the inference recovery cut the row off as half-written."""
    folder = RunDir(tmp_path)
    long = "x" * 300_000
    with folder.answers_file() as answers:
        answers.append(AnswerRow(id="1", model_answer=long, attempts=1))
    assert folder.answers_file().recover() == ["1"]
    rows, _ = folder.read_answers()
    assert rows["1"].model_answer == long
    assert folder.count_answers() == 1


def test_samples_and_problems_round_trip(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    samples = [
        PreparedSample(id="a", image_path=Path("images/a.png"), answer="x", user_prompt="q?"),
        PreparedSample(id="b", fields={"total": "10"}, crop_box=(1, 2, 3, 4)),
    ]
    problems = [
        RowProblem(source="annotation.csv:3", field="image_path", message="missing;file"),
        RowProblem(source="annotation.csv:4", field="id", sample_id="7", message="duplicate"),
    ]
    folder.write_samples(samples)
    folder.write_problems(problems)
    assert folder.read_samples() == (samples, [])
    assert read_prepared_samples(tmp_path) == samples
    assert folder.read_problems() == problems


def test_bad_sample_lines_name_file_and_line(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    good = PreparedSample(id="a", answer="x").model_dump_json()
    folder.samples_path.write_text(
        "\ufeff" + good + "\n\n" + '{"id": 5, "answer": []}\n' + good + "\nnot json\n",
        encoding="utf-8",
    )
    samples, problems = folder.read_samples()
    assert [s.id for s in samples] == ["a"]
    assert [(p.source, p.sample_id) for p in problems] == [
        ("samples.jsonl:3", None),
        ("samples.jsonl:4", "a"),
        ("samples.jsonl:5", None),
    ]
    assert problems[0].field == "id, answer" and problems[1].message.startswith("duplicate")
    with pytest.raises(ConfigError, match="samples file not found"):
        RunDir(tmp_path / "none").read_samples()


def test_inference_refuses_damaged_samples_naming_the_line(tmp_path: Path) -> None:
    """The inference stage re-reads samples.jsonl on resume: a damaged line was a bare
    pydantic traceback; now it names the file and line."""
    folder = RunDir(tmp_path)
    good = PreparedSample(id="a", answer="x").model_dump_json()
    folder.samples_path.write_text(good + "\n" + good + "\n{broken\n", encoding="utf-8")
    with pytest.raises(VlmhbError, match=r"samples\.jsonl: 1 line\(s\).*samples\.jsonl:3"):
        read_prepared_samples(tmp_path)


def test_stats_sessions_replace_their_checkpoint_and_sum(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    assert folder.read_stats() is None
    first = InferenceSession(
        session="s1", complete=False, active_s=1.0, requests=3, errors=1, peak_rss_bytes=5.0
    )
    folder.record_session(first)
    folder.record_session(first.model_copy(update={"complete": True, "requests": 4}))
    stats = folder.record_session(
        InferenceSession(session="s2", complete=False, active_s=0.5, requests=2, peak_gpu_bytes=9)
    )
    assert folder.read_stats() == stats
    assert (stats.active_s, stats.requests, stats.errors) == (1.5, 6, 1)
    assert (stats.peak_rss_bytes, stats.peak_gpu_bytes) == (5.0, 9.0)
    assert (len(stats.sessions), stats.interrupted, stats.sessions_interrupted) == (2, 1, 1)
    on_disk = json.loads(folder.stats_path.read_text(encoding="utf-8"))
    assert folder.stats_path.name == INFERENCE_STATS_FILE
    assert set(on_disk) == {*InferenceStats.model_fields} and on_disk["requests"] == 6


@pytest.mark.parametrize("text", ["{oops", "[]", '{"requests": "many"}'])
def test_unreadable_stats_are_unknown_and_replaced(tmp_path: Path, text: str) -> None:
    folder = RunDir(tmp_path)
    folder.stats_path.write_text(text, encoding="utf-8")
    assert folder.read_stats() is None
    stats = folder.record_session(InferenceSession(session="s", complete=True, requests=1))
    assert stats.requests == 1 and len(stats.sessions) == 1


def test_a_bad_session_entry_is_left_out(tmp_path: Path) -> None:
    """A session whose errors are not a number: the evaluation reader and the inference
    writer both raised ValueError; now the entry is left out and the rest counts."""
    folder = RunDir(tmp_path)
    folder.stats_path.write_text(
        json.dumps(
            {
                "active_s": 2.0,
                "requests": 5,
                "sessions": [{"errors": "x", "requests": 1}, "junk", {"requests": 4}],
            }
        ),
        encoding="utf-8",
    )
    stats = folder.read_stats()
    assert stats is not None and (stats.requests, len(stats.sessions), stats.errors) == (5, 1, 0)
    again = folder.record_session(InferenceSession(session="new", requests=2, complete=True))
    assert again.requests == 6 and len(again.sessions) == 2


def test_session_load_is_recorded_and_old_files_without_it_still_read(tmp_path: Path) -> None:
    """Sessions written before ``load`` existed read with ``load`` None; a new session's
    load round-trips through the file (``request_rate`` None: unlimited)."""
    folder = RunDir(tmp_path)
    old = {"session": "old", "complete": True, "active_s": 2.0, "requests": 4, "errors": 0}
    folder.stats_path.write_text(
        json.dumps({"active_s": 2.0, "requests": 4, "sessions": [old]}), encoding="utf-8"
    )
    stats = folder.read_stats()
    assert stats is not None and [s.load for s in stats.sessions] == [None]
    load = SessionLoad(
        concurrency=8,
        effective_concurrency=3,
        lowest_concurrency=1,
        adaptive_concurrency=True,
        request_rate=None,
        arrivals="poisson",
        seed=0,
        warmup=2,
        stream=False,
    )
    folder.record_session(InferenceSession(session="new", complete=True, requests=3, load=load))
    again = folder.read_stats()
    assert again is not None and [s.load for s in again.sessions] == [None, load]
    on_disk = json.loads(folder.stats_path.read_text(encoding="utf-8"))
    assert on_disk["sessions"][1]["load"]["request_rate"] is None
    assert on_disk["sessions"][0]["load"] is None and again.requests == 7


def test_paths_and_json_files(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    assert folder.metrics_path("general") == tmp_path / "metrics_general.csv"
    assert folder.marker_path("inference") == tmp_path / ".done" / "inference.json"
    assert folder.read_run_spec() is None and folder.read_manifest() is None
    assert folder.read_metric_rows("by_id") == []
    folder.metrics_path("by_id").write_text("\ufeffid;cer\n1;0.5\n", encoding="utf-8")
    assert folder.read_metric_rows("by_id") == [{"id": "1", "cer": "0.5"}]
    folder.manifest_path.write_text('{"a": 1}', encoding="utf-8")
    assert folder.read_manifest() == {"a": 1}
    folder.run_spec_path.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError):
        folder.read_run_spec()
