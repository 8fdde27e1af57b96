"""Short names of runs for tables and charts: ``model · prompt``.

A run folder's name (``model__task__prompt__<id8>``) is too long for a table column or a
chart label; the task is shown apart (its own column, or one table per task).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

SEPARATOR = " · "


def short_run_labels(runs: Iterable[tuple[str, str, str]]) -> list[str]:
    """``model · prompt`` of each ``(model, prompt, run folder name)``, in order; runs that
    would share a label each get their run id (the folder name's last ``__`` part) added."""
    items = list(runs)
    labels = [f"{model}{SEPARATOR}{prompt}" for model, prompt, _ in items]
    counts = Counter(labels)
    return [
        label if counts[label] == 1 else f"{label}{SEPARATOR}{name.rsplit('__', 1)[-1]}"
        for label, (_, _, name) in zip(labels, items, strict=True)
    ]
