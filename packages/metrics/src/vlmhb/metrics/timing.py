"""Timing rows of ``metrics_general.csv``: latency percentiles, throughput, goodput, memory.

Per-request statistics come from ``answers.csv``; the run wall-clock and server memory
peaks from ``inference_stats.json`` (written by the inference stage, merged across resumed
sessions). Every row has its value in ``macro`` and ``n`` = values used. Definitions
follow vLLM's ``bench serve`` (see docs/inference-client.md):

- ``<col>_mean/_p50/_p90/_p99`` for ``latency_ms``, ``ttft_ms``, ``tpot_ms``, ``itl_ms``
  (over the per-request mean inter-token gap) and ``queue_ms``; ``itl_ms_max`` is the
  largest gap of any request. Non-error rows only, except ``queue_ms`` (every row).
- ``error_rate``, ``completion_tokens_mean``.
- ``throughput_rps`` = successful requests of the recorded sessions / their active
  seconds; ``throughput_output_tok_s`` = that × mean completion tokens of good rows;
  ``duration_inference_s`` = active seconds. NaN without ``inference_stats.json``.
- with an SLO (``load: {slo: "ttft:500,tpot:50"}`` of the model, ``LoadSpec.slo``):
  ``goodput_fraction`` (rows meeting every SLO / all rows) and ``goodput_rps`` (that
  fraction × requests of the recorded sessions / their active seconds).
- ``peak_rss_mib`` / ``peak_gpu_mib``: the server's reported peaks, when known.
- ``sessions`` / ``sessions_interrupted``: inference sessions the answers came from, and
  how many of them were killed (those count up to their last checkpoint, about a second
  before the kill).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlmhb.core.errors import ConfigError
from vlmhb.core.rundir import AnswerRow, RunDir
STAT_COLUMNS = ("latency_ms", "ttft_ms", "tpot_ms", "itl_ms", "queue_ms")
STATS = ("mean", "p50", "p90", "p99")
SLO_COLUMNS = {
    "ttft": "ttft_ms",
    "tpot": "tpot_ms",
    "e2el": "latency_ms",
    "latency": "latency_ms",
    "itl": "itl_ms_max",
}
MIB = 1024 * 1024


@dataclass(frozen=True)
class RunStats:
    """What ``inference_stats.json`` says about the run (None when unknown)."""

    active_s: float | None = None
    requests: int | None = None
    errors: int | None = None
    peak_rss_bytes: float | None = None
    peak_gpu_bytes: float | None = None
    sessions: int = 0
    sessions_interrupted: int = 0


def read_run_stats(run_dir: Path) -> RunStats:
    """``run_dir/inference_stats.json`` (``RunDir.read_stats``); an absent or unreadable
    file gives ``RunStats()``."""
    stats = RunDir(run_dir).read_stats()
    if stats is None:
        return RunStats()
    return RunStats(
        active_s=stats.active_s,
        requests=stats.requests,
        errors=stats.errors,
        peak_rss_bytes=stats.peak_rss_bytes,
        peak_gpu_bytes=stats.peak_gpu_bytes,
        sessions=len(stats.sessions),
        sessions_interrupted=stats.interrupted,
    )


def parse_slo(value: Any, location: str = "slo") -> dict[str, float]:
    """``"ttft:500,tpot:50"`` or a mapping → ``{"ttft": 500.0, ...}`` (ms); ``ConfigError``
    naming ``location`` when invalid. Keys: ttft, tpot, itl, e2el (= latency)."""
    if value in (None, ""):
        return {}
    pairs = (
        list(value.items())
        if isinstance(value, dict)
        else [
            tuple(part.split(":", 1)) if ":" in part else (part, "")
            for part in str(value).split(",")
            if part.strip()
        ]
    )
    slo: dict[str, float] = {}
    for key, limit in pairs:
        name = str(key).strip().lower()
        if name not in SLO_COLUMNS:
            raise ConfigError(location, f"unknown SLO {name!r}; use {', '.join(SLO_COLUMNS)}")
        try:
            number = float(limit)
        except (TypeError, ValueError):
            raise ConfigError(location, f"SLO {name!r} needs ms, got {limit!r}") from None
        if not 0 < number < math.inf:
            raise ConfigError(location, f"SLO {name!r} must be > 0 ms, got {limit!r}")
        slo["e2el" if name == "latency" else name] = number
    return slo


def meets_slo(row: AnswerRow, slo: dict[str, float]) -> bool:
    """Same rule as the client: errors fail; a missing TTFT is judged by the latency; a
    missing TPOT/ITL (fewer than 2 tokens) passes."""
    if row.error:
        return False
    for key, limit in slo.items():
        value = row.timings.get(SLO_COLUMNS[key])
        if key == "ttft" and value is None:
            value = row.timings.get("latency_ms")
        if value is not None and value > limit:
            return False
    return True


def _stat(label: str, data: np.ndarray, how: str) -> dict[str, object]:
    if len(data) == 0:
        value = math.nan
    elif how == "mean":
        value = float(data.mean())
    elif how == "max":
        value = float(data.max())
    else:
        value = float(np.percentile(data, float(how[1:])))
    return {"metric": label, "macro": value, "n": len(data)}


def timing_rows(
    answers: Iterable[AnswerRow], stats: RunStats | None = None, slo: dict[str, float] | None = None
) -> list[dict[str, object]]:
    """The timing rows (module docstring) for the scored answer rows."""
    rows: Sequence[AnswerRow] = list(answers)
    stats = stats or RunStats()
    good = [row for row in rows if not row.error]

    def column(name: str, source: Sequence[AnswerRow] = good) -> np.ndarray:
        key = "itl_ms_mean" if name == "itl_ms" else name
        return np.array([v for row in source if (v := row.timings.get(key)) is not None])

    records: list[dict[str, object]] = []
    for name in STAT_COLUMNS:
        data = column(name, rows if name == "queue_ms" else good)
        records += [_stat(f"{name}_{how}", data, how) for how in STATS]
        if name == "itl_ms":
            records.append(_stat("itl_ms_max", column("itl_ms_max"), "max"))
    errors = len(rows) - len(good)
    records.append(
        {"metric": "error_rate", "macro": errors / len(rows) if rows else math.nan, "n": len(rows)}
    )
    tokens = column("completion_tokens")
    records.append(_stat("completion_tokens_mean", tokens, "mean"))
    active = stats.active_s if stats.active_s and stats.active_s > 0 else None
    succeeded = ((stats.requests or 0) - (stats.errors or 0)) if stats.requests else None
    rps = succeeded / active if active and succeeded is not None else math.nan
    mean_tokens = float(tokens.mean()) if len(tokens) else math.nan
    records += [
        {"metric": "throughput_rps", "macro": rps, "n": succeeded or 0},
        {"metric": "throughput_output_tok_s", "macro": rps * mean_tokens, "n": succeeded or 0},
        {"metric": "duration_inference_s", "macro": active or math.nan, "n": stats.requests or 0},
    ]
    if stats.sessions:
        records += [
            {"metric": "sessions", "macro": stats.sessions, "n": stats.sessions},
            {
                "metric": "sessions_interrupted",
                "macro": stats.sessions_interrupted,
                "n": stats.sessions,
            },
        ]
    if slo:
        met = sum(1 for row in rows if meets_slo(row, slo))
        fraction = met / len(rows) if rows else math.nan
        sent_rps = stats.requests / active if active and stats.requests else math.nan
        records += [
            {"metric": "goodput_fraction", "macro": fraction, "n": len(rows)},
            {"metric": "goodput_rps", "macro": sent_rps * fraction, "n": len(rows)},
        ]
    for label, value in (
        ("peak_rss_mib", stats.peak_rss_bytes),
        ("peak_gpu_mib", stats.peak_gpu_bytes),
    ):
        if value is not None:
            records.append({"metric": label, "macro": value / MIB, "n": 1})
    return records
