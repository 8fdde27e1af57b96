"""``inference_stats.json``: one record per inference session of a run, and their totals.

The inference stage writes it (a running session checkpoints its record, so a killed one
still counts up to its last checkpoint); the evaluation stage reads it for throughput,
duration and memory peaks. Totals: ``active_s`` and ``requests`` summed over sessions,
``peak_rss_bytes`` / ``peak_gpu_bytes`` the largest reported, ``sessions_interrupted``
the sessions whose last record is a checkpoint (``complete`` false). Each session also
records the load it ran under (``SessionLoad``; absent in files written before it was).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError


class SessionLoad(BaseModel):
    """The load one inference session ran under.

    ``concurrency`` is the configured limit (``ModelSpec.concurrency``),
    ``effective_concurrency`` that limit capped at the samples the session had to send,
    ``lowest_concurrency`` the lowest limit it ran at (below the effective one only when
    ``adaptive_concurrency`` dropped it on 429/5xx answers). ``request_rate`` is in
    requests/s, None: all at once; ``arrivals``, ``seed`` and ``warmup`` as in
    ``LoadSpec``; ``stream`` the generation's stream flag."""

    concurrency: int
    effective_concurrency: int
    lowest_concurrency: int
    adaptive_concurrency: bool
    request_rate: float | None = None
    arrivals: str
    seed: int
    warmup: int
    stream: bool


class InferenceSession(BaseModel):
    """One inference session: its requests, errors, active seconds (first request to
    last answer), the server's memory peaks (bytes, None when not reported) and the load
    it ran under (None in files written before it was recorded).
    ``finished`` is None and ``complete`` false while it runs (or after it was killed)."""

    session: str | None = None
    finished: str | None = None
    checkpoint: str | None = None
    complete: bool | None = None
    active_s: float | None = None
    requests: int | None = None
    errors: int | None = None
    peak_rss_bytes: float | None = None
    peak_gpu_bytes: float | None = None
    load: SessionLoad | None = None


class InferenceStats(BaseModel):
    """The whole file: totals over ``sessions`` (see the module docstring)."""

    active_s: float | None = None
    sessions_interrupted: int = 0
    requests: int | None = None
    peak_rss_bytes: float | None = None
    peak_gpu_bytes: float | None = None
    sessions: list[InferenceSession] = Field(default_factory=list)

    @property
    def errors(self) -> int:
        """Failed requests over all sessions."""
        return sum(s.errors or 0 for s in self.sessions)

    @property
    def interrupted(self) -> int:
        """Sessions whose last record is a checkpoint (killed, or still running)."""
        return sum(1 for s in self.sessions if s.complete is False)

    @classmethod
    def of_sessions(cls, sessions: list[InferenceSession]) -> InferenceStats:
        """The record holding ``sessions``, with their totals."""

        def largest(values: list[float | None]) -> float | None:
            known = [v for v in values if v is not None]
            return max(known) if known else None

        return cls(
            active_s=round(sum(s.active_s or 0.0 for s in sessions), 6),
            sessions_interrupted=sum(1 for s in sessions if s.complete is False),
            requests=sum(s.requests or 0 for s in sessions),
            peak_rss_bytes=largest([s.peak_rss_bytes for s in sessions]),
            peak_gpu_bytes=largest([s.peak_gpu_bytes for s in sessions]),
            sessions=sessions,
        )

    def with_session(self, record: InferenceSession) -> InferenceStats:
        """This record plus ``record``; an earlier record of the same named session is
        replaced (its checkpoint)."""
        kept = [s for s in self.sessions if record.session is None or s.session != record.session]
        return InferenceStats.of_sessions([*kept, record])


def read_stats(path: Path) -> InferenceStats | None:
    """The file at ``path``; None when it is absent or not a stats record. Session
    entries that are not valid records are left out."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    listed = data.get("sessions")
    sessions = [s for s in listed if _valid_session(s)] if isinstance(listed, list) else []
    try:
        return InferenceStats.model_validate({**data, "sessions": sessions})
    except ValidationError:
        return None


def _valid_session(value: object) -> bool:
    try:
        InferenceSession.model_validate(value)
    except ValidationError:
        return False
    return True
