"""Per-sample rows of a run, joined from its files: ``samples.jsonl`` (input and ground
truth), ``answers.csv`` (answer, error, timings) and ``metrics_by_id.csv`` (metrics), all
read through ``vlmhb.core.rundir.RunDir`` (the same rows the evaluation stage scores: a
repeated id shows its first row, a line that is not a valid sample is left out).

Parsed tables are cached by (path, size, mtime), so paging through a run reads it once.
"""

from __future__ import annotations

import csv
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from vlmhb.core.errors import ConfigError
from vlmhb.core.gcpause import paused_gc
from vlmhb.core.rundir import TIMING_COLUMNS, RunDir

NON_METRIC_COLUMNS = {"id", "doc_class", "question_type", "answer", "model_answer", "error"}


@dataclass
class SampleData:
    """Rows of one run keyed by sample id, in dataset order. ``answers`` holds each
    ``AnswerRow`` as a dict (``model_answer``, ``error``, the ``TIMING_COLUMNS``...);
    ``error_ids`` the ids of ``order`` whose answer is an error (found once per load, so
    a page of errors costs no scan of the run)."""

    order: list[str] = field(default_factory=list)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, str]] = field(default_factory=dict)
    metric_names: list[str] = field(default_factory=list)
    dataset_path: Path | None = None
    error_ids: list[str] = field(default_factory=list)

    def row(self, sample_id: str) -> dict[str, Any]:
        sample = self.samples.get(sample_id, {})
        answer = self.answers.get(sample_id)
        scored = self.metrics.get(sample_id, {})
        return {
            "id": sample_id,
            "question": sample.get("question") or sample.get("user_prompt") or "",
            "ground_truth": _ground_truth(sample, scored),
            "answer": answer.get("model_answer", "") if answer else None,
            "error": (answer or {}).get("error", "") or scored.get("error", ""),
            "doc_class": sample.get("doc_class") or scored.get("doc_class", ""),
            "question_type": sample.get("question_type") or scored.get("question_type", ""),
            "metrics": {m: to_float(scored.get(m)) for m in self.metric_names},
            "timings": {c: to_float((answer or {}).get(c)) for c in TIMING_COLUMNS},
            "has_image": bool(sample.get("image_path")),
            "crop_box": sample.get("crop_box"),
            "answer_box": sample.get("crop_box") or sample.get("bbox"),
        }


def to_float(value: str | float | None) -> float | None:
    """A cell or a number as a finite float; None when empty, text, NaN or infinite."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _ground_truth(sample: dict[str, Any], scored: dict[str, str]) -> str:
    if sample.get("fields"):
        return json.dumps(sample["fields"], ensure_ascii=False)
    return str(sample.get("answer") or scored.get("answer", ""))


_UNREADABLE = (ConfigError, OSError, csv.Error, UnicodeDecodeError)


def _load(run_dir: Path) -> SampleData:
    folder = RunDir(run_dir)
    data = SampleData()
    try:
        samples, _ = folder.read_samples()
    except _UNREADABLE:
        samples = []
    for sample in samples:
        data.order.append(sample.id)
        data.samples[sample.id] = sample.model_dump(mode="json")
    try:
        answers, _ = folder.read_answers()
    except _UNREADABLE:
        answers = {}
    data.answers = {row_id: row.model_dump() for row_id, row in answers.items()}
    metric_rows = folder.read_metric_rows("by_id")
    for row in metric_rows:
        data.metrics[row.get("id", "")] = row
    if metric_rows:
        data.metric_names = [c for c in metric_rows[0] if c not in NON_METRIC_COLUMNS]
    known = set(data.order)
    for sample_id in [*data.answers, *data.metrics]:
        if sample_id not in known:
            data.order.append(sample_id)
            known.add(sample_id)
    data.error_ids = [i for i in data.order if (data.answers.get(i) or {}).get("error")]
    try:
        data.dataset_path = Path(folder.read_run_json()["dataset"]["path"])
    except (OSError, ValueError, KeyError, TypeError):
        data.dataset_path = None
    return data


def count_answers(run_dir: Path) -> int | None:
    """Distinct sample ids with a row in ``answers.csv``; None when there is no file."""
    return RunDir(run_dir).count_answers()


class RunFileCache:
    """A small LRU of parsed runs, invalidated when any source file changes."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[Path, tuple[tuple[Any, ...], SampleData]] = OrderedDict()
        self._lock = Lock()

    def get(self, run_dir: Path) -> SampleData:
        key = _stamp(run_dir)
        with self._lock:
            hit = self._items.get(run_dir)
            if hit is not None and hit[0] == key:
                self._items.move_to_end(run_dir)
                return hit[1]
        with paused_gc():  # 100k rows: 12.5x the load time of 10k with it running, 10x paused
            data = _load(run_dir)
        with self._lock:
            self._items[run_dir] = (key, data)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


def _stamp(run_dir: Path) -> tuple[Any, ...]:
    folder = RunDir(run_dir)
    parts: list[Any] = []
    for path in (
        folder.samples_path,
        folder.answers_path,
        folder.metrics_path("by_id"),
        folder.run_spec_path,
    ):
        try:
            stat = path.stat()
            parts.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            parts.append(None)
    return tuple(parts)
