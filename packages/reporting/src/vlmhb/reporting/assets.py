"""The one plotly.js file an experiment folder's HTML reports share.

Every ``report.html`` of an experiment loads ``assets/plotly-<version>.min.js`` of its
experiment folder by a relative path (``../assets/…`` from a run folder, which lies
directly in its experiment folder: ``TaskGraph.run_dir``), so the reports stay offline and
keep working when the experiment folder is copied or served elsewhere, without carrying
plotly.js (4.8 MB) each.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import REPORT_ASSETS_DIR as ASSETS_DIR


@lru_cache(maxsize=1)
def plotly_asset() -> str:
    """The asset's path relative to the experiment folder (POSIX, versioned name)."""
    return f"{ASSETS_DIR}/plotly-{get_plotlyjs_version()}.min.js"


def plotly_src(levels_below: int) -> str:
    """The ``<script src>`` of the asset for a report ``levels_below`` folders below the
    experiment folder (0: the experiment report, 1: a run report)."""
    return "../" * levels_below + plotly_asset()


def ensure_plotly_asset(exp_dir: Path) -> Path:
    """Write the asset into ``exp_dir`` unless the same file is already there (atomically:
    run reports of one experiment may write it at once); its path."""
    target = exp_dir / plotly_asset()
    script = get_plotlyjs()
    if not _holds(target, script):
        atomic_write_text(target, script)
    return target


def _holds(path: Path, text: str) -> bool:
    try:
        if path.stat().st_size != len(text.encode("utf-8")):
            return False
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
