"""``answers.csv``: finished samples, appended one fsynced row at a time.

A killed run can leave the last row half-written; ``AnswersFile.recover`` cuts the file
back to its last complete row and returns the ids already answered, so a resumed run
sends only the rest. A file written by an older version (the first
``len(LEGACY_ANSWER_COLUMNS)`` columns only) is upgraded in place on ``recover``: the new
columns are added empty to its rows (write-temp-then-rename), so resuming it works.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from vlmhb.core.errors import VlmhbError
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import ANSWER_COLUMNS, CSV_SEPARATOR
from vlmhb.inference.client import RequestResult

# The header of answers.csv files written before queue_ms, itl_ms_*, error_type existed.
LEGACY_ANSWER_COLUMNS = ANSWER_COLUMNS[:9]
_NEEDS_QUOTES = re.compile(f'[{re.escape(CSV_SEPARATOR)}"\r\n]')


def _complete_rows(data: bytes) -> tuple[list[list[str]], int]:
    """Parsed rows of ``data`` that end in a newline, and the byte length they cover.

    Only the last row can be partial (each row is one write); any earlier damage is an
    error, never silently cut."""
    lines = data.splitlines(keepends=True)
    consumed = 0
    good_end = 0

    def feed() -> Iterator[str]:
        nonlocal consumed
        for line in lines:
            consumed += len(line)
            yield line.decode("utf-8", errors="replace")

    rows: list[list[str]] = []
    reader = csv.reader(feed(), delimiter=CSV_SEPARATOR, strict=True)
    width = len(ANSWER_COLUMNS)
    try:
        for row in reader:
            if data[consumed - 1 : consumed] != b"\n":
                if consumed < len(data):
                    raise _damaged(len(rows) + 1, "has a line break outside quotes")
                break
            if not rows:
                if row not in (ANSWER_COLUMNS, LEGACY_ANSWER_COLUMNS):
                    raise VlmhbError(
                        f"answers.csv header {row} is not {ANSWER_COLUMNS}; "
                        "move the file away to start the run afresh"
                    )
                width = len(row)
            if len(row) != width:
                raise VlmhbError(
                    f"answers.csv row {len(rows) + 1} has {len(row)} fields, "
                    f"expected {width}; move the file away to start "
                    "the run afresh"
                )
            rows.append(row)
            good_end = consumed
    except csv.Error as exc:
        if consumed < len(data):
            raise _damaged(len(rows) + 1, f"is not valid CSV ({exc})") from exc
    return rows, good_end


def _damaged(number: int, problem: str) -> VlmhbError:
    return VlmhbError(
        f"answers.csv row {number} {problem} and rows follow it, so it is not "
        "a half-written last row; repair the file or move it away to start "
        "the run afresh"
    )


def _csv_line(values: Iterable[str]) -> str:
    """One ``;``-separated line; a field holding ``;``, ``"``, ``\\r`` or ``\\n`` is quoted.

    ``csv.writer`` with ``lineterminator="\\n"`` leaves a lone ``\\r`` unquoted before
    Python 3.12, and every CSV reader then splits the row there."""
    return (
        CSV_SEPARATOR.join(
            '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text
            for text in values
        )
        + "\n"
    )


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


class AnswersFile:
    """The run's ``answers.csv``: ``recover`` once, then ``append`` results."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = None

    def recover(self) -> list[str]:
        """Ids of the complete rows on disk, after cutting off a partial last row."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            raise VlmhbError(f"{self.path}: unexpected BOM; answers.csv is written without one")
        rows, good_end = _complete_rows(data)
        if rows and rows[0] == LEGACY_ANSWER_COLUMNS:
            self._upgrade(rows)
            return [row[0] for row in rows[1:]]
        if rows and rows[0] != ANSWER_COLUMNS:
            raise VlmhbError(
                f"{self.path}: header {rows[0]} is not {ANSWER_COLUMNS}; "
                "move the file away to start the run afresh"
            )
        if good_end < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
        return [row[0] for row in rows[1:]]

    def _upgrade(self, rows: list[list[str]]) -> None:
        """Rewrite a legacy file with the current header, new columns empty."""
        pad = [""] * (len(ANSWER_COLUMNS) - len(LEGACY_ANSWER_COLUMNS))
        atomic_write_text(
            self.path,
            "".join(_csv_line(row) for row in [ANSWER_COLUMNS, *(row + pad for row in rows[1:])]),
        )

    def append(self, result: RequestResult) -> None:
        """Write one row and fsync it (the header first when the file is empty)."""
        if self._handle is None:
            self._handle = self.path.open("a", encoding="utf-8", newline="")
            if self._handle.tell() == 0:
                self._write(ANSWER_COLUMNS)
        self._write(
            [
                result.id,
                result.model_answer,
                result.error,
                result.ttft_ms,
                result.latency_ms,
                result.tpot_ms,
                result.prompt_tokens,
                result.completion_tokens,
                result.attempts,
                result.queue_ms,
                result.itl_ms_mean,
                result.itl_ms_max,
                result.error_type,
            ]
        )

    def _write(self, values: Sequence[object]) -> None:
        assert self._handle is not None
        self._handle.write(_csv_line(_format(v) for v in values))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> AnswersFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
