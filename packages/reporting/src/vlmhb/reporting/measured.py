"""The load (concurrency, request rate, warm-up, stream) a run's answers and timings were
measured under.

From the sessions of ``inference_stats.json`` (each records the load it ran under,
``vlmhb.core.rundir.SessionLoad``): the latest session's values, and every value where
the sessions of the run disagree (``4 / 8``: a run resumed under another setting, which
the run id now prevents but older folders may hold). A run whose sessions predate that
record falls back to ``manifest.json``'s ``inference`` record (``RunSpec.measurement()``:
those settings are in the run id, so they are what ran), then to ``run.json``'s model
(what was configured, marked as such).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vlmhb.core.files import INFERENCE_STATS_FILE, MANIFEST_FILE, RUN_SPEC_FILE
from vlmhb.core.rundir import RunDir, SessionLoad
from vlmhb.reporting.loading import RunData

UNLIMITED = "unlimited"
DISAGREE = " / "


@dataclass(frozen=True)
class MeasuredLoad:
    """``request_rate`` None: every request sent at once (no rate limit). ``source`` is
    the file the values come from; ``sessions`` the per-session loads, oldest first, when
    that file is ``inference_stats.json`` (``concurrency`` and ``request_rate`` are then
    the latest session's)."""

    concurrency: int | None
    request_rate: float | None
    source: str
    sessions: tuple[SessionLoad, ...] = ()

    @property
    def concurrency_text(self) -> str:
        """``8``, or ``4 / 8`` when the sessions ran under different limits."""
        if not self.sessions:
            return str(self.concurrency)
        return self._each(lambda s: str(s.concurrency))

    @property
    def rate_text(self) -> str:
        """``2.5`` or ``unlimited`` (``2.5 / unlimited`` when sessions disagree)."""
        if not self.sessions:
            return _rate_text(self.request_rate)
        return self._each(lambda s: _rate_text(s.request_rate))

    def pairs(self) -> list[tuple[str, str]]:
        """``(field, value)`` rows for a run report; values only configured in
        ``run.json`` say so."""
        if not self.sessions:
            note = "" if self.source == MANIFEST_FILE else f" (configured, {self.source})"
            rate = _with_unit(_rate_text(self.request_rate))
            return [("concurrency", f"{self.concurrency}{note}"), ("request rate", f"{rate}{note}")]
        rows = [
            ("concurrency", self.concurrency_text),
            ("effective concurrency", self._effective()),
            ("request rate", self._each(lambda s: _with_unit(_rate_text(s.request_rate)))),
        ]
        if any(s.request_rate is not None for s in self.sessions):
            rows.append(("arrivals", self._each(_arrivals)))
        rows += [
            ("warm-up requests", self._each(lambda s: str(s.warmup))),
            ("stream", self._each(lambda s: "yes" if s.stream else "no")),
        ]
        return rows

    def _effective(self) -> str:
        def one(load: SessionLoad) -> str:
            if not load.adaptive_concurrency:
                return f"{load.effective_concurrency} (fixed)"
            return f"{load.effective_concurrency} (adaptive, lowest {load.lowest_concurrency})"

        return self._each(one)

    def _each(self, text: Callable[[SessionLoad], str]) -> str:
        """Each session's ``text``, distinct values in session order."""
        return DISAGREE.join(dict.fromkeys(text(s) for s in self.sessions))


def measured_load(data: RunData) -> MeasuredLoad | None:
    """What ``data``'s run was measured under; None when no file says."""
    stats = RunDir(data.run_dir).read_stats()
    sessions = tuple(s.load for s in stats.sessions if s.load) if stats else ()
    if sessions:
        latest = sessions[-1]
        return MeasuredLoad(latest.concurrency, latest.request_rate, INFERENCE_STATS_FILE, sessions)
    inference = data.manifest.get("inference")
    if isinstance(inference, Mapping) and isinstance(inference.get("concurrency"), int):
        load = inference.get("load")
        rate = load.get("request_rate") if isinstance(load, Mapping) else None
        return MeasuredLoad(inference["concurrency"], _rate(rate), MANIFEST_FILE)
    if data.spec is not None:
        model = data.spec.model
        return MeasuredLoad(model.concurrency, model.load.request_rate, RUN_SPEC_FILE)
    return None


def _rate_text(rate: float | None) -> str:
    return UNLIMITED if rate is None else f"{rate:g}"


def _with_unit(text: str) -> str:
    return text if text == UNLIMITED else f"{text} req/s"


def _arrivals(load: SessionLoad) -> str:
    if load.request_rate is None:
        return "all at once"
    return load.arrivals if load.arrivals != "poisson" else f"poisson (seed {load.seed})"


def _rate(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
