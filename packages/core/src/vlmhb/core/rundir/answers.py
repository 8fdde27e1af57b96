"""``answers.csv`` rows: the typed ``AnswerRow`` and the tolerant reader the evaluation
stage, the reports and the backend use.

The file is ``;``-separated UTF-8 with the header ``ANSWER_COLUMNS``; a file of an older
version (``LEGACY_ANSWER_COLUMNS``) or a hand-made one (``id;model_answer`` and any of the
other columns, for ``only_evaluate``) reads the same way, absent columns empty.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from pydantic import BaseModel

from vlmhb.core.contracts import RowProblem
from vlmhb.core.errors import ConfigError
from vlmhb.core.files import ANSWER_COLUMNS, CSV_SEPARATOR, TIMING_COLUMNS
from vlmhb.core.gcpause import paused_gc

REQUIRED_ANSWER_COLUMNS = ("id", "model_answer")
_WHOLE_COLUMNS = ("prompt_tokens", "completion_tokens", "attempts")
# An answer can be long (a model that never stops): the csv module's default limit of a
# field (128 KiB) made recovery cut such a row off as if half-written.
csv.field_size_limit(2**31 - 1)


class AnswerRow(BaseModel):
    """One row of ``answers.csv``: the answer, the error (empty for a good answer) and the
    request's timings (ms), token counts and attempts (None when not measured)."""

    id: str
    model_answer: str = ""
    error: str = ""
    ttft_ms: float | None = None
    latency_ms: float | None = None
    tpot_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int | None = None
    queue_ms: float | None = None
    itl_ms_mean: float | None = None
    itl_ms_max: float | None = None
    error_type: str = ""

    @property
    def prediction(self) -> str:
        """What the metrics score: the answer, or an empty text for an error row."""
        return "" if self.error else self.model_answer

    @property
    def timings(self) -> dict[str, float | None]:
        """``TIMING_COLUMNS`` → value (as float; None when not measured)."""
        values = self.model_dump(include=set(TIMING_COLUMNS))
        return {c: None if values[c] is None else float(values[c]) for c in TIMING_COLUMNS}

    def cells(self) -> list[str]:
        """The row's cells in ``ANSWER_COLUMNS`` order, as the file holds them (floats with
        three decimals, None empty)."""
        values = self.model_dump(include=set(ANSWER_COLUMNS))
        return [_cell(values[column]) for column in ANSWER_COLUMNS]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def parse_number(text: str, whole: bool = False) -> float | int | None:
    """A cell as a number: empty or NaN → None; ``,`` as the decimal mark is accepted.
    ``ValueError`` for text, infinity, or (``whole``) a fraction."""
    value = float(text.replace(",", ".")) if text else math.nan
    if math.isinf(value):
        raise ValueError("infinite")
    if math.isnan(value):
        return None
    if whole:
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    return value


def read_answers(path: Path) -> tuple[dict[str, AnswerRow], list[RowProblem]]:
    """Rows of ``answers.csv`` by id. Only ``id`` and ``model_answer`` are required;
    unparsable numbers and repeated ids are problems naming ``file:line`` (the number is
    left empty; the first row of an id is kept). ``ConfigError`` when the file is absent
    or its header lacks a required column."""
    if not path.is_file():
        raise ConfigError(str(path), "answers file not found (run the inference stage first)")
    answers: dict[str, AnswerRow] = {}
    problems: list[RowProblem] = []
    with paused_gc(), path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=CSV_SEPARATOR)
        missing = set(REQUIRED_ANSWER_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(
                f"{path}:1", f"missing column(s) {sorted(missing)}; header is {reader.fieldnames}"
            )
        for record in reader:
            source = f"{path.name}:{reader.line_num}"
            row_id = (record.get("id") or "").strip()
            if not row_id:
                problems.append(RowProblem(source=source, field="id", message="empty id"))
                continue
            if row_id in answers:
                problems.append(
                    RowProblem(
                        source=source,
                        field="id",
                        sample_id=row_id,
                        message="repeated id, first answer kept",
                    )
                )
                continue
            numbers: dict[str, float | int | None] = {}
            for column in TIMING_COLUMNS:
                text = (record.get(column) or "").strip()
                whole = column in _WHOLE_COLUMNS
                try:
                    numbers[column] = parse_number(text, whole)
                except ValueError:
                    problems.append(
                        RowProblem(
                            source=source,
                            field=column,
                            sample_id=row_id,
                            message=f"not a {'whole ' if whole else ''}number: {text!r}, ignored",
                        )
                    )
                    numbers[column] = None
            answers[row_id] = AnswerRow(
                id=row_id,
                model_answer=record.get("model_answer") or "",
                error=(record.get("error") or "").strip(),
                error_type=(record.get("error_type") or "").strip(),
                **numbers,
            )
    return answers, problems


def count_answers(path: Path) -> int | None:
    """Distinct non-empty ids in ``answers.csv``; None when it is absent or unreadable."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            ids = {
                (row.get("id") or "").strip()
                for row in csv.DictReader(handle, delimiter=CSV_SEPARATOR)
            }
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    return len(ids - {""})
