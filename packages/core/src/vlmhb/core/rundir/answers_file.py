"""Writing ``answers.csv``: finished samples, appended one row at a time.

Each row is written and flushed to the operating system as it comes, so a killed process
(``kill -9``, a crash) loses no answer; the file is fsynced at least every
``FSYNC_INTERVAL_S`` and when closed (group commit: an fsync per row cost more than the
request it records), so a power loss costs at most that much of answers, asked again on
resume. A killed run can leave the last row half-written; ``AnswersFile.recover`` cuts the file
back to its last complete row and returns the ids already answered, so a resumed run
sends only the rest. A file with fewer columns (the ``LEGACY_ANSWER_COLUMNS`` of an older
version, or a hand-made ``id;model_answer`` file for ``only_evaluate``) is upgraded in
place on ``recover``: the missing columns are added empty to its rows
(write-temp-then-rename), so resuming it works.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from vlmhb.core.errors import VlmhbError
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import ANSWER_COLUMNS, CSV_SEPARATOR
from vlmhb.core.gcpause import paused_gc
from vlmhb.core.rundir.answers import REQUIRED_ANSWER_COLUMNS, AnswerRow

FSYNC_INTERVAL_S = 0.2
_NEEDS_QUOTES = re.compile(f'[{re.escape(CSV_SEPARATOR)}"\r\n]')


def known_header(row: list[str]) -> bool:
    """True for the current header and for one that is a part of it (older versions,
    hand-made files) holding at least ``id`` and ``model_answer``, each column once."""
    return len(set(row)) == len(row) and set(REQUIRED_ANSWER_COLUMNS) <= set(row) <= set(
        ANSWER_COLUMNS
    )


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
                if not known_header(row):
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


class AnswersFile:
    """The run's ``answers.csv`` as the inference stage writes it: ``recover`` once, then
    ``append`` rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = None
        self._synced_at = 0.0

    def recover(self) -> list[str]:
        """Ids of the complete rows on disk, after cutting off a partial last row."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            raise VlmhbError(f"{self.path}: unexpected BOM; answers.csv is written without one")
        with paused_gc():
            rows, good_end = _complete_rows(data)
        if rows and rows[0] != ANSWER_COLUMNS:
            self._upgrade(rows)
        elif good_end < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
        id_at = rows[0].index("id") if rows else 0
        return [row[id_at] for row in rows[1:]]

    def _upgrade(self, rows: list[list[str]]) -> None:
        """Rewrite a file of fewer columns with the current header, the others empty."""
        header = rows[0]
        upgraded = [
            [dict(zip(header, row, strict=True)).get(c, "") for c in ANSWER_COLUMNS]
            for row in rows[1:]
        ]
        atomic_write_text(self.path, "".join(_csv_line(r) for r in [ANSWER_COLUMNS, *upgraded]))

    def append(self, row: AnswerRow) -> None:
        """Write and flush one row (the header first when the file is empty); fsync when
        the last one is ``FSYNC_INTERVAL_S`` old."""
        if self._handle is None:
            self._handle = self.path.open("a", encoding="utf-8", newline="")
            if self._handle.tell() == 0:
                self._write(ANSWER_COLUMNS)
        self._write(row.cells())

    def _write(self, cells: list[str]) -> None:
        assert self._handle is not None
        self._handle.write(_csv_line(cells))
        self._handle.flush()
        now = time.monotonic()
        if now - self._synced_at >= FSYNC_INTERVAL_S:
            os.fsync(self._handle.fileno())
            self._synced_at = now

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def __enter__(self) -> AnswersFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
