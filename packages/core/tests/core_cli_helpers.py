"""Running the real ``vlmhb`` CLI in a subprocess, for the core tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]


def run_vlmhb(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``vlmhb ARGS`` in ``cwd`` (with ``env`` added), output captured as text (wide lines:
    ``COLUMNS=250``)."""
    return subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        timeout=timeout,
    )
