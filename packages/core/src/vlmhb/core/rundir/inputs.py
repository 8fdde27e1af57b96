"""``samples.jsonl`` (one ``PreparedSample`` a line) and ``problems.csv`` (the
``RowProblem`` rows skipped as bad input), written when a run's samples are prepared."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from vlmhb.core.contracts import PreparedSample, RowProblem
from vlmhb.core.errors import ConfigError
from vlmhb.core.fileio import atomic_write_csv, atomic_write_text
from vlmhb.core.files import CSV_SEPARATOR
from vlmhb.core.gcpause import paused_gc

PROBLEM_COLUMNS = ["source", "field", "sample_id", "message"]


def write_samples(path: Path, samples: Iterable[PreparedSample]) -> None:
    atomic_write_text(path, "".join(s.model_dump_json() + "\n" for s in samples))


def read_samples(path: Path) -> tuple[list[PreparedSample], list[RowProblem]]:
    """Samples of ``samples.jsonl`` in file order; a line that is not a valid sample, or
    repeats an earlier id, is a problem naming ``file:line`` and is left out.
    ``ConfigError`` when the file is absent."""
    if not path.is_file():
        raise ConfigError(str(path), "samples file not found (run the inference stage first)")
    samples: list[PreparedSample] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    with paused_gc(), path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            source = f"{path.name}:{number}"
            try:
                sample = PreparedSample.model_validate_json(line)
            except ValidationError as exc:
                errors = exc.errors()
                where = [".".join(str(p) for p in e["loc"]) or "line" for e in errors]
                problems.append(
                    RowProblem(
                        source=source,
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
                        source=source,
                        field="id",
                        message="duplicate sample id, line skipped",
                        sample_id=sample.id,
                    )
                )
                continue
            seen.add(sample.id)
            samples.append(sample)
    return samples, problems


def write_problems(path: Path, problems: Iterable[RowProblem]) -> None:
    atomic_write_csv(
        path,
        PROBLEM_COLUMNS,
        [[p.source, p.field, p.sample_id or "", p.message] for p in problems],
    )


def read_problems(path: Path) -> list[RowProblem]:
    """The rows of ``problems.csv`` (empty cells as ""; an empty ``sample_id`` is None);
    ``ConfigError`` naming the file when it is absent or not readable."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter=CSV_SEPARATOR))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read problems file: {exc}") from exc
    return [
        RowProblem(
            source=row.get("source") or "",
            field=row.get("field") or "",
            message=row.get("message") or "",
            sample_id=row.get("sample_id") or None,
        )
        for row in rows
    ]
