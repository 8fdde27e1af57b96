"""A writer killed mid atomic write leaves a temp file; the next write removes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from vlmhb.core.fileio import atomic_write_text, count_csv_rows, remove_stale_temps

KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from vlmhb.core import fileio
os.replace = lambda *a: (print("written", flush=True), time.sleep(60))
fileio.atomic_write_text(Path(sys.argv[1]), "partial report")
"""


def test_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.kill()
    proc.wait()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".report.md.")
    atomic_write_text(target, "the report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    assert target.read_text(encoding="utf-8") == "the report"


def test_live_writers_and_fresh_unnamed_temps_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    live = tmp_path / f".report.md.{os.getppid()}.abc.tmp"  # the parent process is alive
    fresh = tmp_path / ".report.md.xyz123.tmp"  # old naming, no pid: kept while recent
    old = tmp_path / ".report.md.old456.tmp"
    for path in (live, fresh, old):
        path.write_text("x", encoding="utf-8")
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    assert remove_stale_temps(target) == [old]
    assert live.exists() and fresh.exists()


def test_count_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "problems.csv"
    assert count_csv_rows(path) == 0
    path.write_text(
        'source;field;sample_id;message\na;b;1;"two\nlines"\nc;d;2;m\n', encoding="utf-8"
    )
    assert count_csv_rows(path) == 2
