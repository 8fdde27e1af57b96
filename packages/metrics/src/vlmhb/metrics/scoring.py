"""Scoring every sample (and, for extraction, every field) into the by-id table."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vlmhb.core.contracts import RowProblem, Sample
from vlmhb.metrics.base import Metric, Reference
from vlmhb.metrics.extraction import parse_fields
from vlmhb.metrics.runfiles import AnswerRow

#: ``question_type`` of the document-level row of an extraction sample.
DOCUMENT_ROW = "(document)"
#: Columns of metrics_by_id.csv before the metric columns.
ID_COLUMNS = ["id", "doc_class", "question_type", "answer", "model_answer", "error"]
#: Hidden columns the aggregation needs; never written.
SAMPLE_ID, DOCUMENT = "_sample_id", "_document"
PREDICTION, REFERENCE = "_prediction", "_reference"
HIDDEN_COLUMNS = [SAMPLE_ID, DOCUMENT, PREDICTION, REFERENCE]


@dataclass
class ScoreRow:
    """One unit scored: a sample, or an extraction document (``document``) or field."""

    id: str
    sample: Sample
    question_type: str
    answer: str
    model_answer: str
    error: str
    prediction: str
    reference: Reference
    document: bool = False


def text_reference(sample: Sample) -> Reference:
    """``Sample.answer``, plus alternatives from ``extra["answers"]`` when present."""
    alternatives = sample.extra.get("answers")
    if isinstance(alternatives, list) and alternatives:
        return [sample.answer, *(str(a) for a in alternatives if str(a) != sample.answer)]
    return sample.answer


def build_rows(sample: Sample, answer: AnswerRow, kind: str) -> list[ScoreRow]:
    """The rows one sample contributes: one, or for extraction a document row and one
    row per reference field (``<id>:<field>``)."""
    if kind != "extraction":
        return [
            ScoreRow(
                sample.id,
                sample,
                sample.question_type,
                sample.answer,
                answer.model_answer,
                answer.error,
                answer.prediction,
                text_reference(sample),
            )
        ]
    reference = sample.fields or {}
    predicted = parse_fields(answer.prediction) or {}
    rows = [
        ScoreRow(
            sample.id,
            sample,
            DOCUMENT_ROW,
            json.dumps(reference, ensure_ascii=False),
            answer.model_answer,
            answer.error,
            answer.prediction,
            reference,
            document=True,
        )
    ]
    for name, value in reference.items():
        guess = predicted.get(name, "")
        rows.append(
            ScoreRow(f"{sample.id}:{name}", sample, name, value, guess, answer.error, guess, value)
        )
    return rows


def applies(metric: Metric, document_row: bool) -> bool:
    """Whether ``metric`` scores a row: document-level metrics only extraction document
    rows, all others every other row."""
    return metric.document_level == document_row


def _scores(metric: Metric, rows: list[ScoreRow], problems: list[RowProblem]) -> list[float]:
    """Values of ``metric`` for ``rows`` in one batch; when the batch fails, row by row,
    each failing row reported as a problem and left NaN."""
    try:
        return metric.scores([r.prediction for r in rows], [r.reference for r in rows])
    except (TypeError, ValueError):
        pass
    values = []
    for row in rows:
        try:
            values.append(metric.score(row.prediction, row.reference))
        except (TypeError, ValueError) as exc:
            problems.append(
                RowProblem(
                    source=row.sample.source or "samples.jsonl",
                    field=metric.name,
                    message=str(exc),
                    sample_id=row.id,
                )
            )
            values.append(math.nan)
    return values


def score_table(
    samples: Sequence[Sample],
    answers: dict[str, AnswerRow],
    metrics: Sequence[Metric],
    kind: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[pd.DataFrame, list[RowProblem]]:
    """The by-id table: ``ID_COLUMNS``, one column per metric (NaN where it does not
    apply or is corpus-only) and the hidden columns used for aggregation.
    A metric failing on a row is reported as a problem and leaves NaN there."""
    records: list[dict[str, Any]] = []
    rows: list[ScoreRow] = []
    for sample in samples:
        for row in build_rows(sample, answers[sample.id], kind):
            rows.append(row)
            records.append(
                {
                    "id": row.id,
                    "doc_class": sample.doc_class,
                    "question_type": row.question_type,
                    "answer": row.answer,
                    "model_answer": row.model_answer,
                    "error": row.error,
                    SAMPLE_ID: sample.id,
                    DOCUMENT: row.document,
                    PREDICTION: row.prediction,
                    REFERENCE: row.reference,
                }
            )
    problems: list[RowProblem] = []
    for done, metric in enumerate(metrics, start=1):
        for record in records:
            record[metric.name] = math.nan
        chosen = [
            i for i, row in enumerate(rows) if metric.per_sample and applies(metric, row.document)
        ]
        for i, value in zip(
            chosen, _scores(metric, [rows[i] for i in chosen], problems), strict=True
        ):
            records[i][metric.name] = value
        progress(done * len(samples) // len(metrics), len(samples))
    columns = ID_COLUMNS + [m.name for m in metrics] + HIDDEN_COLUMNS
    return pd.DataFrame.from_records(records, columns=columns), problems
