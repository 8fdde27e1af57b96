"""Reading the evaluation stage's inputs and writing its outputs atomically."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from vlmhb.core.contracts import PreparedSample, RowProblem
from vlmhb.core.errors import ConfigError
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import CSV_SEPARATOR

TIMING_COLUMNS = (
    "ttft_ms",
    "latency_ms",
    "tpot_ms",
    "prompt_tokens",
    "completion_tokens",
    "queue_ms",
    "itl_ms_mean",
    "itl_ms_max",
)


@dataclass
class AnswerRow:
    """One row of ``answers.csv``; timing values are None when empty or unparsable."""

    id: str
    model_answer: str
    error: str = ""
    timings: dict[str, float | None] = field(default_factory=dict)

    @property
    def prediction(self) -> str:
        """What the metrics score: the answer, or an empty text for an error row."""
        return "" if self.error else self.model_answer


def read_samples(path: Path) -> tuple[list[PreparedSample], list[RowProblem]]:
    """Samples of ``samples.jsonl``; bad lines become problems naming file:line."""
    if not path.is_file():
        raise ConfigError(str(path), "samples file not found (run the inference stage first)")
    samples: list[PreparedSample] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                sample = PreparedSample.model_validate_json(line)
            except ValidationError as exc:
                errors = exc.errors()
                where = [".".join(str(p) for p in e["loc"]) or "line" for e in errors]
                problems.append(
                    RowProblem(
                        source=f"{path.name}:{number}",
                        field=", ".join(where),
                        message="; ".join(
                            f"{w}: {e['msg']}" for w, e in zip(where, errors, strict=True)
                        ),
                    )
                )
                continue
            if sample.id in seen:
                problems.append(
                    RowProblem(
                        source=f"{path.name}:{number}",
                        field="id",
                        message="duplicate sample id, line skipped",
                        sample_id=sample.id,
                    )
                )
                continue
            seen.add(sample.id)
            samples.append(sample)
    return samples, problems


def _number(text: str) -> float:
    value = float(text.replace(",", ".")) if text else math.nan
    if math.isinf(value):
        raise ValueError("infinite")
    return value


def read_answers(path: Path) -> tuple[dict[str, AnswerRow], list[RowProblem]]:
    """Rows of ``answers.csv`` by id. Only ``id`` and ``model_answer`` are required
    (legacy files have no timing columns); unparsable numbers and repeated ids are
    reported per row (the first row of an id is kept)."""
    if not path.is_file():
        raise ConfigError(str(path), "answers file not found (run the inference stage first)")
    answers: dict[str, AnswerRow] = {}
    problems: list[RowProblem] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=CSV_SEPARATOR)
        missing = {"id", "model_answer"} - set(reader.fieldnames or [])
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
            timings: dict[str, float | None] = {}
            for column in TIMING_COLUMNS:
                text = (record.get(column) or "").strip()
                try:
                    value = _number(text)
                except ValueError:
                    problems.append(
                        RowProblem(
                            source=source,
                            field=column,
                            sample_id=row_id,
                            message=f"not a number: {text!r}, ignored",
                        )
                    )
                    value = math.nan
                timings[column] = None if math.isnan(value) else value
            answers[row_id] = AnswerRow(
                id=row_id,
                model_answer=record.get("model_answer") or "",
                error=(record.get("error") or "").strip(),
                timings=timings,
            )
    return answers, problems


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as ``;``-separated UTF-8 CSV via a temp file and ``os.replace``."""
    atomic_write_text(path, frame.to_csv(sep=CSV_SEPARATOR, index=False))
