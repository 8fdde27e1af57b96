"""Per-sample rows of a run, joined from its files: ``samples.jsonl`` (input and ground
truth), ``answers.csv`` (answer, error, timings) and ``metrics_by_id.csv`` (metrics).

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

from vlmhb.core.files import ANSWERS_FILE, CSV_SEPARATOR, METRICS_FILES, RUN_SPEC_FILE, SAMPLES_FILE

TIMING_COLUMNS = (
    "ttft_ms",
    "latency_ms",
    "tpot_ms",
    "prompt_tokens",
    "completion_tokens",
    "attempts",
)
NON_METRIC_COLUMNS = {"id", "doc_class", "question_type", "answer", "model_answer", "error"}
csv.field_size_limit(16 * 1024 * 1024)


@dataclass
class SampleData:
    """Rows of one run keyed by sample id, in dataset order."""

    order: list[str] = field(default_factory=list)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics: dict[str, dict[str, str]] = field(default_factory=dict)
    metric_names: list[str] = field(default_factory=list)
    dataset_path: Path | None = None

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
        }


def to_float(value: str | None) -> float | None:
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


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=CSV_SEPARATOR))


def _load(run_dir: Path) -> SampleData:
    data = SampleData()
    samples_file = run_dir / SAMPLES_FILE
    if samples_file.is_file():
        with samples_file.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    sample = json.loads(line)
                except ValueError:
                    continue
                sample_id = str(sample.get("id", ""))
                if sample_id not in data.samples:
                    data.order.append(sample_id)
                data.samples[sample_id] = sample
    for row in _read_csv(run_dir / ANSWERS_FILE):
        data.answers[row.get("id", "")] = row
    metric_rows = _read_csv(run_dir / METRICS_FILES["by_id"])
    for row in metric_rows:
        data.metrics[row.get("id", "")] = row
    if metric_rows:
        data.metric_names = [c for c in metric_rows[0] if c not in NON_METRIC_COLUMNS]
    known = set(data.order)
    for sample_id in [*data.answers, *data.metrics]:
        if sample_id not in known:
            data.order.append(sample_id)
            known.add(sample_id)
    try:
        spec = json.loads((run_dir / RUN_SPEC_FILE).read_text(encoding="utf-8"))
        data.dataset_path = Path(spec["dataset"]["path"])
    except (OSError, ValueError, KeyError, TypeError):
        data.dataset_path = None
    return data


def count_answers(run_dir: Path) -> int | None:
    """Distinct sample ids with a row in ``answers.csv``; None when there is no file."""
    if not (run_dir / ANSWERS_FILE).is_file():
        return None
    try:
        return len({row.get("id", "") for row in _read_csv(run_dir / ANSWERS_FILE)} - {""})
    except (OSError, csv.Error, UnicodeDecodeError):
        return None


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
        data = _load(run_dir)
        with self._lock:
            self._items[run_dir] = (key, data)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


def _stamp(run_dir: Path) -> tuple[Any, ...]:
    parts: list[Any] = []
    for name in (SAMPLES_FILE, ANSWERS_FILE, METRICS_FILES["by_id"], RUN_SPEC_FILE):
        try:
            stat = (run_dir / name).stat()
            parts.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            parts.append(None)
    return tuple(parts)
