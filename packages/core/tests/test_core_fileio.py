"""Atomic writes: the target is replaced whole, readable by others, no temp file left."""

from __future__ import annotations

import stat
from pathlib import Path

from vlmhb.core.fileio import atomic_write_csv, atomic_write_text


def test_atomic_write_replaces_readably(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.md"
    atomic_write_text(target, "first")
    atomic_write_text(target, "второй\n")
    assert target.read_text(encoding="utf-8") == "второй\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]


def test_atomic_csv_uses_semicolons_and_quotes(tmp_path: Path) -> None:
    target = tmp_path / "x.csv"
    atomic_write_csv(target, ["id", "text"], [["1", "a;b"], ["2", "plain"]])
    assert target.read_text(encoding="utf-8") == 'id;text\n1;"a;b"\n2;plain\n'
