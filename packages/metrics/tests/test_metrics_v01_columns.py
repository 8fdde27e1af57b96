"""``metric_columns: v0.1`` on a task: the evaluation stage also writes the metrics files
with VLMHyperBench v0.1's column names (its ``metric_evaluator``: ``cer_error``,
``wer_error``, ``bleu_score`` per sample and overall, ``bleu_error`` per group; BLEU on
sacrebleu's 0-100 scale; group and overall values are corpus values, as v0.1's jiwer
calls on lists computed them); the standard files stay as they are."""

from __future__ import annotations

from pathlib import Path

import jiwer
import pandas as pd
import pytest
import sacrebleu
from pydantic import ValidationError

from vlmhb.core.contracts import PreparedSample, TaskSpec
from vlmhb.core.files import METRICS_FILES, METRICS_SCHEMA_FILE, V01_METRICS_FILES
from vlmhb.metrics.stage import EvaluationStage

from .metrics_stage_helpers import Recorder, make_task, write_answers, write_samples

ROWS = [  # (doc_class, question_type, reference, answer)
    ("passport", "Фамилия", "ИВАНОВ", "ИВАНОВ"),
    ("passport", "Имя", "ПЁТР", "ПЕТР"),
    ("snils", "Номер", "123-456-789 00", "123-456-789 01"),
    ("snils", "Имя", "МАРИЯ ИВАНОВНА", "МАРИЯ"),
]
METRICS = ["cer", "wer", "bleu", "exact_match"]


def _run(run_dir: Path, columns: str) -> list[str]:
    samples = [
        PreparedSample(id=str(i), answer=ref, doc_class=doc, question_type=q)
        for i, (doc, q, ref, _) in enumerate(ROWS)
    ]
    write_samples(run_dir, samples)
    write_answers(
        run_dir,
        [{"id": str(i), "model_answer": row[3], "latency_ms": 5} for i, row in enumerate(ROWS)],
    )
    task = make_task(run_dir, METRICS)
    assert task.run is not None
    task.run.task.metric_columns = columns  # type: ignore[assignment]
    return EvaluationStage().run(task, Recorder(task).ctx).outputs


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", keep_default_na=False, na_values=[""])


def _refs_preds(doc: str | None = None) -> tuple[list[str], list[str]]:
    rows = [r for r in ROWS if doc is None or r[0] == doc]
    return [r[2] for r in rows], [r[3] for r in rows]


def test_v01_column_names_and_values(tmp_path: Path) -> None:
    outputs = _run(tmp_path, "v0.1")
    assert sorted(outputs) == sorted(
        [*METRICS_FILES.values(), *V01_METRICS_FILES.values(), METRICS_SCHEMA_FILE]
    )
    ours = _read(tmp_path / METRICS_FILES["by_id"])
    by_id = _read(tmp_path / V01_METRICS_FILES["by_id"])
    assert [c for c in by_id.columns if c in ("cer_error", "wer_error", "bleu_score")] == [
        "cer_error",
        "wer_error",
        "bleu_score",
    ]
    assert "cer" not in by_id.columns and "exact_match" in by_id.columns
    assert by_id["cer_error"].tolist() == pytest.approx(ours["cer"].tolist())
    assert by_id["bleu_score"].tolist() == pytest.approx((ours["bleu"] * 100).tolist())

    by_doc = _read(tmp_path / V01_METRICS_FILES["by_doc_type"]).set_index("doc_class")
    assert list(by_doc.columns) == ["cer_error", "wer_error", "bleu_error", "exact_match"]
    for doc in ("passport", "snils"):
        refs, preds = _refs_preds(doc)
        assert by_doc.loc[doc, "cer_error"] == pytest.approx(jiwer.cer(refs, preds))
        assert by_doc.loc[doc, "wer_error"] == pytest.approx(jiwer.wer(refs, preds))
        assert by_doc.loc[doc, "bleu_error"] == pytest.approx(
            sacrebleu.corpus_bleu(preds, [refs]).score
        )
    by_dq = _read(tmp_path / V01_METRICS_FILES["by_doc_question"])
    assert list(by_dq.columns[:3]) == ["doc_class", "question_type", "cer_error"]

    general = _read(tmp_path / V01_METRICS_FILES["general"])
    assert list(general.columns) == ["cer_error", "wer_error", "bleu_score", "exact_match"]
    refs, preds = _refs_preds()
    assert len(general) == 1
    assert general.loc[0, "cer_error"] == pytest.approx(jiwer.cer(refs, preds))
    assert general.loc[0, "wer_error"] == pytest.approx(jiwer.wer(refs, preds))
    assert general.loc[0, "bleu_score"] == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)
    assert general.loc[0, "exact_match"] == pytest.approx(0.25)  # no micro form: the macro


def test_the_standard_files_are_the_same_with_or_without_the_option(tmp_path: Path) -> None:
    plain, v01 = tmp_path / "plain", tmp_path / "v01"
    plain.mkdir()
    v01.mkdir()
    _run(plain, "vlmhb")
    _run(v01, "v0.1")
    assert not any((plain / name).exists() for name in V01_METRICS_FILES.values())
    for name in METRICS_FILES.values():
        assert (plain / name).read_bytes() == (v01 / name).read_bytes()


def test_the_option_is_a_typed_field_that_re_runs_only_the_evaluation(tmp_path: Path) -> None:
    from vlmhb.core.contracts import DatasetSpec, ExperimentSpec, ModelSpec
    from vlmhb.core.orchestration.graph import plan_experiment

    with pytest.raises(ValidationError, match="metric_columns"):
        TaskSpec(name="t", dataset="d", metric_columns="v0.2")  # type: ignore[arg-type]

    def plan(columns: str) -> dict[str, str]:
        spec = ExperimentSpec(
            name="e",
            models=[ModelSpec(name="m", backend="scripted")],
            datasets=[DatasetSpec(name="d", format="vqa_csv", path=tmp_path)],
            tasks=[TaskSpec(name="t", dataset="d", metrics=["cer"], metric_columns=columns)],  # type: ignore[arg-type]
        )
        return {task.stage.value: task.id for task in plan_experiment(spec)}

    plain, v01, again = plan("vlmhb"), plan("v0.1"), plan("vlmhb")
    assert plain == again
    assert v01["inference"] == plain["inference"]
    assert v01["evaluation"] != plain["evaluation"] and v01["report"] != plain["report"]
