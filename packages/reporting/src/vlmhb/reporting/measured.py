"""The concurrency and request rate a run's answers and timings were measured under.

From ``manifest.json``'s ``inference`` record (``RunSpec.measurement()``: those settings
are in the run id, so they are what ran); a run written before that record existed
falls back to ``run.json``'s model (what was configured, marked as such).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vlmhb.core.files import MANIFEST_FILE, RUN_SPEC_FILE
from vlmhb.reporting.loading import RunData

UNLIMITED = "unlimited"


@dataclass(frozen=True)
class MeasuredLoad:
    """``request_rate`` None: every request sent at once (no rate limit). ``source`` is
    the file the values come from."""

    concurrency: int | None
    request_rate: float | None
    source: str

    @property
    def rate_text(self) -> str:
        """``2.5`` or ``unlimited``."""
        return UNLIMITED if self.request_rate is None else f"{self.request_rate:g}"


def measured_load(data: RunData) -> MeasuredLoad | None:
    """What ``data``'s run was measured under; None when neither file says."""
    inference = data.manifest.get("inference")
    if isinstance(inference, Mapping) and isinstance(inference.get("concurrency"), int):
        load = inference.get("load")
        rate = load.get("request_rate") if isinstance(load, Mapping) else None
        return MeasuredLoad(inference["concurrency"], _rate(rate), MANIFEST_FILE)
    if data.spec is not None:
        model = data.spec.model
        return MeasuredLoad(model.concurrency, model.load.request_rate, RUN_SPEC_FILE)
    return None


def _rate(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
