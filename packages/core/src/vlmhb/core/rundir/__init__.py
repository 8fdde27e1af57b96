"""The run folder: every file a run's stages exchange, behind one typed API.

``RunDir(path)`` names each file and reads and writes the typed ones: ``samples.jsonl``
(``PreparedSample``), ``problems.csv`` (``RowProblem``), ``answers.csv`` (``AnswerRow``,
appended by ``AnswersFile``), ``inference_stats.json`` (``InferenceStats``), the
``metrics_*.csv`` tables (``;``-separated, written by the evaluation stage), ``run.json``
(``RunSpec``), ``manifest.json`` and the ``.done/<stage>.json`` markers (whose records
``vlmhb.core.orchestration.markers`` owns). Readers that meet a bad row name
``file:line``. Inference, metrics, reporting and the backend all go through it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import PreparedSample, RowProblem, RunSpec
from vlmhb.core.fileio import atomic_write_json
from vlmhb.core.files import (
    ANSWERS_FILE,
    CSV_SEPARATOR,
    DONE_DIR,
    INFERENCE_STATS_FILE,
    MANIFEST_FILE,
    METRICS_FILES,
    PROBLEMS_FILE,
    RUN_SPEC_FILE,
    SAMPLES_FILE,
    TIMING_COLUMNS,
)
from vlmhb.core.rundir.answers import AnswerRow, count_answers, read_answers
from vlmhb.core.rundir.answers_file import AnswersFile
from vlmhb.core.rundir.inputs import read_problems, read_samples, write_problems, write_samples
from vlmhb.core.rundir.stats import InferenceSession, InferenceStats, SessionLoad, read_stats

__all__ = [
    "TIMING_COLUMNS",
    "AnswerRow",
    "AnswersFile",
    "InferenceSession",
    "InferenceStats",
    "RunDir",
    "SessionLoad",
]


class RunDir:
    """One run's folder (it need not exist yet) and the paths of its files."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.samples_path = self.path / SAMPLES_FILE
        self.problems_path = self.path / PROBLEMS_FILE
        self.answers_path = self.path / ANSWERS_FILE
        self.stats_path = self.path / INFERENCE_STATS_FILE
        self.run_spec_path = self.path / RUN_SPEC_FILE
        self.manifest_path = self.path / MANIFEST_FILE

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def metrics_path(self, level: str) -> Path:
        """``metrics_<level>.csv`` for a level of ``METRICS_FILES`` (KeyError otherwise)."""
        return self.path / METRICS_FILES[level]

    def marker_path(self, stage: str) -> Path:
        """``.done/<stage>.json``: the completion marker of a stage."""
        return self.path / DONE_DIR / f"{stage}.json"

    # ------------------------------------------------------------------ samples, problems
    def read_samples(self) -> tuple[list[PreparedSample], list[RowProblem]]:
        """See ``vlmhb.core.rundir.inputs.read_samples``."""
        return read_samples(self.samples_path)

    def write_samples(self, samples: list[PreparedSample]) -> None:
        write_samples(self.samples_path, samples)

    def read_problems(self) -> list[RowProblem]:
        return read_problems(self.problems_path)

    def write_problems(self, problems: list[RowProblem]) -> None:
        write_problems(self.problems_path, problems)

    # ------------------------------------------------------------------ answers
    def read_answers(self) -> tuple[dict[str, AnswerRow], list[RowProblem]]:
        """See ``vlmhb.core.rundir.answers.read_answers``."""
        return read_answers(self.answers_path)

    def count_answers(self) -> int | None:
        """Distinct answered ids; None without a readable ``answers.csv``."""
        return count_answers(self.answers_path)

    def answers_file(self) -> AnswersFile:
        """The appender of ``answers.csv`` (``recover`` it first)."""
        return AnswersFile(self.answers_path)

    # ------------------------------------------------------------------ inference stats
    def read_stats(self) -> InferenceStats | None:
        """``inference_stats.json``; None when absent or unreadable."""
        return read_stats(self.stats_path)

    def record_session(self, record: InferenceSession) -> InferenceStats:
        """Add (or replace, by name) one session's record; an unreadable old file is
        replaced (its sessions are lost). Returns the new totals."""
        stats = (self.read_stats() or InferenceStats()).with_session(record)
        atomic_write_json(self.stats_path, stats.model_dump(mode="json"))
        return stats

    # ------------------------------------------------------------------ metrics, json
    def read_metric_rows(self, level: str) -> list[dict[str, str]]:
        """The rows of ``metrics_<level>.csv`` as text cells; [] when it is absent."""
        path = self.metrics_path(level)
        if not path.is_file():
            return []
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle, delimiter=CSV_SEPARATOR))

    def read_run_json(self) -> Any:
        """``run.json`` as plain JSON (None when absent); ``ValueError`` when unreadable."""
        return _read_json(self.run_spec_path)

    def read_run_spec(self) -> RunSpec | None:
        """``run.json`` as a ``RunSpec``; None when absent. ``ValueError`` (a Pydantic
        ``ValidationError`` when it is not a valid spec) otherwise."""
        data = self.read_run_json()
        return None if data is None else RunSpec.model_validate(data)

    def read_manifest(self) -> Any:
        """``manifest.json`` as plain JSON (None when absent); ``ValueError`` when
        unreadable."""
        return _read_json(self.manifest_path)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8-sig"))  # UnicodeDecodeError is a ValueError
