"""Reading a run directory's files into one ``RunData`` (no rendering here): the typed
files through ``vlmhb.core.rundir.RunDir``, the metrics tables as DataFrames."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from vlmhb.core.contracts import RunSpec
from vlmhb.core.errors import VlmhbError
from vlmhb.core.files import (
    ANSWER_COLUMNS,
    CSV_SEPARATOR,
    METRICS_FILES,
    RUN_SPEC_FILE,
)
from vlmhb.core.metric_info import MetricsSchema
from vlmhb.core.registry import Registry
from vlmhb.core.rundir import RunDir
from vlmhb.core.rundir.inputs import PROBLEM_COLUMNS
from vlmhb.reporting.schema import run_schema

# Columns that hold text: read as strings, an empty cell is "" (never NaN, never "None"→NaN).
TEXT_COLUMNS = (
    "id",
    "sample_id",
    "doc_class",
    "question_type",
    "answer",
    "model_answer",
    "error",
    "source",
    "field",
    "message",
    "metric",
)
GENERAL_COLUMNS = ("metric", "macro")


class ReportInputError(VlmhbError):
    """A file the report needs is missing or unreadable; the message names the file.

    ``reason`` is the message without the file's full path (for tables of runs).
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class RunData:
    """Everything a run report shows. Optional files that are absent are ``None``;
    ``notes`` says which optional files could not be read and why. ``schema`` describes
    each metric (``vlmhb.reporting.schema``)."""

    run_dir: Path
    general: pd.DataFrame
    by_doc_type: pd.DataFrame | None = None
    by_doc_question: pd.DataFrame | None = None
    by_id: pd.DataFrame | None = None
    answers: pd.DataFrame | None = None
    problems: pd.DataFrame | None = None
    spec: RunSpec | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema: MetricsSchema = field(default_factory=MetricsSchema)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def label(self) -> str:
        return self.spec.label if self.spec else self.name

    @property
    def identity(self) -> tuple[str, str, str]:
        """``(model, task, prompt)`` from ``run.json``, else from the directory name."""
        if self.spec:
            prompt = self.spec.prompt.label if self.spec.prompt else "default"
            return self.spec.model.name, self.spec.task.name, prompt
        parts = [*self.name.split("__"), "", "", ""]
        return parts[0], parts[1], parts[2]

    @property
    def quality_metrics(self) -> list[str]:
        return [m for m in self.general["metric"] if self.schema.kind(m) == "quality"]

    @property
    def timing_metrics(self) -> list[str]:
        return [m for m in self.general["metric"] if self.schema.kind(m) != "quality"]

    def macro(self) -> dict[str, float]:
        """``{metric: macro value}`` for every row of ``metrics_general.csv``."""
        return {
            str(m): float(v)
            for m, v in zip(
                self.general["metric"],
                pd.to_numeric(self.general["macro"], errors="coerce"),
                strict=True,
            )
        }


def read_csv(path: Path) -> pd.DataFrame:
    """A ``;``-separated UTF-8 CSV (BOM tolerated); text columns keep empty cells as ``""``."""
    frame = pd.read_csv(
        path,
        sep=CSV_SEPARATOR,
        encoding="utf-8-sig",
        keep_default_na=False,
        na_values=[""],
        dtype={c: str for c in TEXT_COLUMNS},
    )
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].fillna("")
    return frame


def load_general(run_dir: Path) -> pd.DataFrame:
    """``metrics_general.csv``, required: a ``ReportInputError`` naming it when absent/bad."""
    path = RunDir(run_dir).metrics_path("general")
    if not path.is_file():
        raise ReportInputError(
            path, f"required file {path.name} is missing (has the evaluation stage finished?)"
        )
    try:
        frame = read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportInputError(path, f"cannot read {path.name}: {exc}") from exc
    missing = [c for c in GENERAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ReportInputError(path, f"{path.name} lacks column(s) {', '.join(missing)}")
    return frame


def load_run(run_dir: Path, metrics: Registry[Any] | None = None) -> RunData:
    """Read all report inputs of ``run_dir``; only ``metrics_general.csv`` is required.
    ``metrics`` (the run's metric registry) describes metrics of runs without
    ``metrics_schema.json``."""
    general = load_general(run_dir)
    schema = run_schema(run_dir, [str(m) for m in general["metric"]], metrics)
    data = RunData(run_dir=run_dir, general=general, schema=schema)
    data.by_doc_type = _optional_csv(data, METRICS_FILES["by_doc_type"])
    data.by_doc_question = _optional_csv(data, METRICS_FILES["by_doc_question"])
    data.by_id = _optional_csv(data, METRICS_FILES["by_id"])
    folder = RunDir(run_dir)
    data.answers = _optional(data, folder.answers_path, lambda: _answers_frame(folder))
    data.problems = _optional(data, folder.problems_path, lambda: _problems_frame(folder))
    spec_json = _optional(data, folder.run_spec_path, folder.read_run_json)
    if spec_json is not None:
        try:
            data.spec = RunSpec.model_validate(spec_json)
        except ValidationError as exc:
            data.notes.append(
                f"{RUN_SPEC_FILE}: not a valid run spec ({exc.error_count()} error(s))"
            )
    manifest = _optional(data, folder.manifest_path, folder.read_manifest)
    if isinstance(manifest, dict):
        data.manifest = manifest
    return data


def _optional_csv(data: RunData, name: str) -> pd.DataFrame | None:
    path = data.run_dir / name
    if not path.is_file():
        return None
    try:
        return read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        data.notes.append(f"{name}: unreadable, left out ({exc})")
        return None


def _optional(data: RunData, path: Path, read: Callable[[], Any]) -> Any:
    """``read()`` of an optional file: None when the file is absent; a note and None
    when it cannot be read."""
    if not path.is_file():
        return None
    try:
        return read()
    except (VlmhbError, ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        data.notes.append(f"{path.name}: unreadable, left out ({exc})")
        return None


def _answers_frame(folder: RunDir) -> pd.DataFrame:
    """``answers.csv`` as ``RunDir.read_answers`` gives it (a repeated id: its first row,
    as the metrics count it), one column per ``ANSWER_COLUMNS``."""
    rows, _ = folder.read_answers()
    return pd.DataFrame([row.model_dump() for row in rows.values()], columns=ANSWER_COLUMNS)


def _problems_frame(folder: RunDir) -> pd.DataFrame:
    problems = folder.read_problems()
    return pd.DataFrame(
        [[p.source, p.field, p.sample_id or "", p.message] for p in problems],
        columns=PROBLEM_COLUMNS,
    )
