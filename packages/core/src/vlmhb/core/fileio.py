"""Crash-safe file writes: write a temporary file beside the target, then rename.

Temporary files are named ``.<target>.<pid>.<random>.tmp``. A process killed between the
two steps leaves its temp file behind; the next write of the same target removes the temp
files of writers that are no longer alive (and unnamed ones older than ``STALE_S``).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FILE_MODE = 0o644  # mkstemp makes 0600; results are read by the dashboard and other users
STALE_S = 3600.0  # a temp file without a writer pid is left alone for this long


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader never sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove temp files of ``path`` left by killed writers; return the removed ones."""
    prefix = f".{path.name}."
    removed: list[Path] = []
    for name in glob.glob(glob.escape(str(path.parent / prefix)) + "*.tmp"):
        tmp = Path(name)
        middle = tmp.name[len(prefix) : -len(".tmp")]
        pid_text, dot, _ = middle.partition(".")
        try:
            if dot and pid_text.isdigit():
                if _alive(int(pid_text)):
                    continue
            elif time.time() - tmp.stat().st_mtime < STALE_S:
                continue
            tmp.unlink()
        except OSError:
            continue
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def count_csv_rows(path: Path, delimiter: str = ";") -> int:
    """Data rows of a CSV file (quoted newlines count once); 0 when it does not exist."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return max(0, sum(1 for _ in csv.reader(handle, delimiter=delimiter)) - 1)
    except OSError:
        return 0


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def atomic_write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A ``;``-separated UTF-8 CSV written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
