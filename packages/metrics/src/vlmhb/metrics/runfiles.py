"""The evaluation stage's run files: its inputs are read through ``vlmhb.core.rundir``
(the run folder's owner), its metrics tables are written atomically here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import CSV_SEPARATOR
from vlmhb.core.rundir.answers import AnswerRow, read_answers
from vlmhb.core.rundir.inputs import read_samples

__all__ = ["AnswerRow", "read_answers", "read_samples", "write_csv_atomic"]


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as ``;``-separated UTF-8 CSV via a temp file and ``os.replace``."""
    atomic_write_text(path, frame.to_csv(sep=CSV_SEPARATOR, index=False))
