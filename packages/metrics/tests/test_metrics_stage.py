"""The evaluation stage end to end on real and generated run directories."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jiwer
import numpy as np
import pandas as pd
import pytest

from vlmhb.core.contracts import PreparedSample, TaskState
from vlmhb.core.errors import ConfigError, UnknownNameError
from vlmhb.core.files import METRICS_FILES, METRICS_SCHEMA_FILE
from vlmhb.metrics.stage import EvaluationStage, MissingAnswersError

from .metrics_stage_helpers import Recorder, make_task, write_answers, write_samples

FIXTURE = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "snils_vqa_answers"
).resolve()


def _read(run_dir: Path, level: str) -> pd.DataFrame:
    return pd.read_csv(
        run_dir / METRICS_FILES[level], sep=";", keep_default_na=False, na_values=[""]
    )


def _general(run_dir: Path) -> pd.DataFrame:
    return _read(run_dir, "general").set_index("metric")


@pytest.fixture
def snils_run(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixture {FIXTURE} absent (only in the full checkout)")
    with (FIXTURE / "annotation.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    with (FIXTURE / "qwen2-vl-2b_answers.csv").open(encoding="utf-8", newline="") as handle:
        answers = {r["id"]: r["model_answer"] for r in csv.DictReader(handle, delimiter=";")}
    samples = [
        PreparedSample(
            id=str(i),
            question=r["question"],
            answer=r["answer"],
            doc_class=r["doc_class"],
            question_type=r["question_type"],
            source=f"annotation.csv:{i + 2}",
        )
        for i, r in enumerate(rows)
    ]
    write_samples(tmp_path, samples)
    write_answers(
        tmp_path,
        [
            {"id": str(i), "model_answer": answers[str(i)], "latency_ms": 100 + 10 * i}
            for i in range(len(rows))
        ],
    )
    return tmp_path, [r["answer"] for r in rows], [answers[str(i)] for i in range(len(rows))]


def test_snils_fixture_values(snils_run: tuple[Path, list[str], list[str]]) -> None:
    run_dir, refs, preds = snils_run
    task = make_task(run_dir, ["cer", "wer", "anls", "exact_match", "cer_ci"])
    rec = Recorder(task)
    result = EvaluationStage().run(task, rec.ctx)

    assert result.status == TaskState.COMPLETED
    assert sorted(result.outputs) == sorted([*METRICS_FILES.values(), METRICS_SCHEMA_FILE])
    by_id = _read(run_dir, "by_id")
    assert list(by_id.columns) == [
        "id",
        "doc_class",
        "question_type",
        "answer",
        "model_answer",
        "error",
        "cer",
        "wer",
        "anls",
        "exact_match",
        "cer_ci",
    ]
    assert len(by_id) == 9
    assert by_id.loc[0, "cer"] == 0.0
    assert by_id["exact_match"].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0]
    # "Фамилия: ОСИПОВ" vs "Осипов": 9 inserted chars + 5 case changes, / 6
    assert by_id.loc[1, "cer"] == pytest.approx(14 / 6)
    assert by_id.loc[1, "cer_ci"] == pytest.approx(9 / 6)
    assert by_id.loc[1, "anls"] == 0.0
    for i in range(9):
        assert by_id.loc[i, "cer"] == pytest.approx(jiwer.cer(refs[i], preds[i]))
        assert by_id.loc[i, "wer"] == pytest.approx(jiwer.wer(refs[i], preds[i]))

    general = _general(run_dir)
    assert general.loc["exact_match", "macro"] == pytest.approx(1 / 9)
    assert np.isnan(general.loc["exact_match", "micro"])
    cer_values = [jiwer.cer(r, p) for r, p in zip(refs, preds, strict=True)]
    assert general.loc["cer", "macro"] == pytest.approx(np.mean(cer_values))
    assert general.loc["cer", "micro"] == pytest.approx(jiwer.cer(refs, preds))
    assert general.loc["wer", "micro"] == pytest.approx(jiwer.wer(refs, preds))
    assert general.loc["cer", "ci95_low"] <= general.loc["cer", "macro"]
    assert general.loc["cer", "macro"] <= general.loc["cer", "ci95_high"]
    assert general.loc["cer", "n"] == 9
    assert general.loc["latency_ms_p50", "macro"] == pytest.approx(140.0)
    assert general.loc["latency_ms_mean", "macro"] == pytest.approx(140.0)
    assert general.loc["error_rate", "macro"] == 0.0
    assert general.loc["ttft_ms_p50", "n"] == 0  # legacy answers carry no TTFT

    by_dq = _read(run_dir, "by_doc_question")
    assert list(by_dq.columns[:3]) == ["doc_class", "question_type", "n"]
    assert "cer_micro" in by_dq.columns and "exact_match_micro" not in by_dq.columns
    row = by_dq.set_index("question_type").loc["Номер снилса"]
    assert row["n"] == 1 and row["cer"] == 0.0 and row["exact_match"] == 1.0
    by_dt = _read(run_dir, "by_doc_type")
    assert by_dt["doc_class"].tolist() == ["snils"] and by_dt.loc[0, "n"] == 9
    assert by_dt.loc[0, "cer_micro"] == pytest.approx(jiwer.cer(refs, preds))
    assert result.summary["exact_match"] == pytest.approx(1 / 9)
    assert any(e.type == "progress" and e.done == e.total == 9 for e in rec.events)
    assert not list(run_dir.glob(".*.tmp"))


def test_snils_fixture_is_idempotent(snils_run: tuple[Path, list[str], list[str]]) -> None:
    run_dir = snils_run[0]
    task = make_task(run_dir, ["cer", "anls"])
    EvaluationStage().run(task, Recorder(task).ctx)
    first = {f: (run_dir / f).read_bytes() for f in METRICS_FILES.values()}
    EvaluationStage().run(task, Recorder(task).ctx)
    assert first == {f: (run_dir / f).read_bytes() for f in METRICS_FILES.values()}


def _vqa_samples(count: int) -> list[PreparedSample]:
    return [
        PreparedSample(
            id=str(i),
            answer=f"ответ {i}",
            doc_class="passport" if i % 2 else "snils",
            question_type=f"q{i % 3}",
        )
        for i in range(count)
    ]


def test_timing_rows_and_error_rows(tmp_path: Path) -> None:
    write_samples(tmp_path, _vqa_samples(10))
    rows = []
    for i in range(10):
        error = "timeout" if i == 9 else ""
        rows.append(
            {
                "id": str(i),
                "model_answer": "" if error else f"ответ {i}",
                "error": error,
                "ttft_ms": 10 * (i + 1),
                "latency_ms": 100 * (i + 1),
                "tpot_ms": "" if i == 0 else 5.0,
                "completion_tokens": 4,
            }
        )
    write_answers(tmp_path, rows)
    task = make_task(tmp_path, ["cer", "exact_match"])
    result = EvaluationStage().run(task, Recorder(task).ctx)

    by_id = _read(tmp_path, "by_id").set_index("id")
    assert by_id.loc[9, "error"] == "timeout" and by_id.loc[9, "cer"] == 1.0
    general = _general(tmp_path)
    good_latency = [100.0 * (i + 1) for i in range(9)]  # error row excluded
    assert general.loc["latency_ms_p50", "macro"] == pytest.approx(np.percentile(good_latency, 50))
    assert general.loc["latency_ms_p99", "macro"] == pytest.approx(np.percentile(good_latency, 99))
    assert general.loc["ttft_ms_p90", "macro"] == pytest.approx(
        np.percentile([10.0 * (i + 1) for i in range(9)], 90)
    )
    assert general.loc["tpot_ms_p50", "macro"] == 5.0 and general.loc["tpot_ms_p50", "n"] == 8
    assert general.loc["error_rate", "macro"] == pytest.approx(0.1)
    assert general.loc["completion_tokens_mean", "macro"] == 4.0
    assert general.loc["cer", "macro"] == pytest.approx(0.1)
    assert result.summary == {"cer": pytest.approx(0.1), "exact_match": pytest.approx(0.9)}


def test_missing_answer_rows_fail_with_count(tmp_path: Path) -> None:
    write_samples(tmp_path, _vqa_samples(5))
    write_answers(tmp_path, [{"id": "0", "model_answer": "x"}, {"id": "3", "model_answer": "y"}])
    task = make_task(tmp_path, ["cer"])
    with pytest.raises(MissingAnswersError, match=r"3 of 5 samples have no answer row"):
        EvaluationStage().run(task, Recorder(task).ctx)
    assert not (tmp_path / METRICS_FILES["general"]).exists()


def test_bad_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    write_samples(tmp_path, _vqa_samples(3))
    with (tmp_path / "samples.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"id": 5, "answer": ["not", "text"]}\n')
    write_answers(
        tmp_path,
        [
            {"id": "0", "model_answer": "ответ 0", "latency_ms": "fast"},
            {"id": "1", "model_answer": "ответ 1", "latency_ms": 20},
            {"id": "1", "model_answer": "again", "latency_ms": 20},
            {"id": "2", "model_answer": "ответ", "latency_ms": 30},
            {"id": "77", "model_answer": "stray"},
        ],
    )
    task = make_task(tmp_path, ["cer"])
    rec = Recorder(task)
    result = EvaluationStage().run(task, rec.ctx)
    assert result.status == TaskState.COMPLETED
    logs = "\n".join(rec.logs)
    assert "answers.csv:2 [latency_ms]: not a number: 'fast'" in logs
    assert "answers.csv:4 [id]: repeated id" in logs
    assert "samples.jsonl:4 [id, answer]: id: Input should be a valid string" in logs
    assert "'77' is not in samples.jsonl" in logs
    general = _general(tmp_path)
    assert general.loc["latency_ms_p50", "n"] == 2
    assert general.loc["cer", "n"] == 3


def test_unknown_metric_fails_before_any_work(tmp_path: Path) -> None:
    task = make_task(tmp_path, ["cer", "cer_cii"])  # no samples/answers files at all
    with pytest.raises(UnknownNameError, match="Did you mean 'cer_ci'"):
        EvaluationStage().run(task, Recorder(task).ctx)
    with pytest.raises(UnknownNameError, match="aggregation"):
        EvaluationStage().run(
            make_task(tmp_path, ["cer"], aggregations=["by_doc"]), Recorder(task).ctx
        )


def test_metric_not_applicable_to_kind(tmp_path: Path) -> None:
    task = make_task(tmp_path, ["kendall_tau"], kind="vqa")
    with pytest.raises(ConfigError, match="'kendall_tau' applies to ordering tasks, not 'vqa'"):
        EvaluationStage().run(task, Recorder(task).ctx)


def test_missing_answers_file_is_clear(tmp_path: Path) -> None:
    write_samples(tmp_path, _vqa_samples(2))
    task = make_task(tmp_path, ["cer"])
    with pytest.raises(ConfigError, match=r"answers\.csv: answers file not found"):
        EvaluationStage().run(task, Recorder(task).ctx)


def test_extraction_layout(tmp_path: Path) -> None:
    fields = {"surname": "Осипов", "name": "Автоном"}
    samples = [
        PreparedSample(id="a/1", fields=fields, doc_class="passport"),
        PreparedSample(id="a/2", fields=fields, doc_class="passport"),
    ]
    write_samples(tmp_path, samples)
    good = '```json\n{"fields": {"surname": "ОСИПОВ", "name": "Антон"}}\n```'
    write_answers(
        tmp_path,
        [{"id": "a/1", "model_answer": good}, {"id": "a/2", "model_answer": "I cannot read it"}],
    )
    task = make_task(
        tmp_path,
        ["json_valid", "field_precision", "field_recall", "field_f1", "cer", "exact_match_ci"],
        kind="extraction",
    )
    result = EvaluationStage().run(task, Recorder(task).ctx)

    by_id = _read(tmp_path, "by_id").set_index("id")
    assert by_id.index.tolist() == [
        "a/1",
        "a/1:surname",
        "a/1:name",
        "a/2",
        "a/2:surname",
        "a/2:name",
    ]
    assert by_id.loc["a/1", "question_type"] == "(document)"
    assert json.loads(by_id.loc["a/1", "answer"]) == fields
    assert by_id.loc["a/1", "json_valid"] == 1 and by_id.loc["a/2", "json_valid"] == 0
    assert by_id.loc["a/1", "field_f1"] == 0.5 and np.isnan(by_id.loc["a/1", "cer"])
    assert by_id.loc["a/1:surname", "model_answer"] == "ОСИПОВ"
    assert by_id.loc["a/1:surname", "exact_match_ci"] == 1.0
    assert np.isnan(by_id.loc["a/1:surname", "json_valid"])
    assert by_id.loc["a/2:name", "cer"] == 1.0

    by_dq = _read(tmp_path, "by_doc_question").set_index("question_type")
    assert by_dq.loc["(document)", "json_valid"] == 0.5
    assert by_dq.loc["surname", "n"] == 2 and by_dq.loc["surname", "exact_match_ci"] == 0.5
    general = _general(tmp_path)
    assert general.loc["field_precision", "micro"] == 0.5  # 1 correct of 2 predicted
    assert general.loc["field_recall", "micro"] == 0.25  # 1 of 4 expected
    assert general.loc["field_f1", "micro"] == pytest.approx(2 / 6)
    assert general.loc["json_valid", "n"] == 2 and general.loc["cer", "n"] == 4
    assert _read(tmp_path, "by_doc_type").loc[0, "n"] == 2
    assert result.summary["json_valid"] == 0.5


def test_classification_and_ordering(tmp_path: Path) -> None:
    labels = ["passport", "snils", "snils", "invoice"]
    write_samples(tmp_path, [PreparedSample(id=str(i), answer=lab) for i, lab in enumerate(labels)])
    write_answers(
        tmp_path,
        [
            {"id": str(i), "model_answer": a}
            for i, a in enumerate(["Passport", "snils", "passport", "invoice"])
        ],
    )
    task = make_task(tmp_path, ["accuracy", "macro_f1"], kind="classification")
    result = EvaluationStage().run(task, Recorder(task).ctx)
    # passport: tp1 fp1 -> 2/3; snils: tp1 fn1 -> 2/3; invoice: 1
    assert result.summary == {"accuracy": 0.75, "macro_f1": pytest.approx((2 / 3 + 2 / 3 + 1) / 3)}
    general = _general(tmp_path)
    assert np.isnan(general.loc["macro_f1", "ci95_low"])
    assert "macro_f1" in _read(tmp_path, "by_id").columns

    order_dir = tmp_path / "order"
    order_dir.mkdir()
    write_samples(
        order_dir,
        [PreparedSample(id="0", answer="[1, 2, 3]"), PreparedSample(id="1", answer="[2, 1]")],
    )
    write_answers(
        order_dir, [{"id": "0", "model_answer": "3, 2, 1"}, {"id": "1", "model_answer": "[2, 1]"}]
    )
    task = make_task(order_dir, ["kendall_tau"], kind="ordering")
    assert EvaluationStage().run(task, Recorder(task).ctx).summary == {"kendall_tau": 0.0}
