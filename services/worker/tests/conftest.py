"""The job queue tests' fixtures (defined in ``vlmhb_worker_testkit``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from vlmhb_worker_testkit import (
    dataset,
    make_plane,
    pg_schema_url,
    root,
    store_url,
    token_file,
)

__all__ = ["dataset", "make_plane", "pg_schema_url", "root", "store_url", "token_file"]
