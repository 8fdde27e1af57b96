"""Timing rows of ``metrics_general.csv``: latency percentiles, throughput, goodput, memory.

Per-request statistics come from ``answers.csv``; the run wall-clock and server memory
peaks from ``inference_stats.json`` (written by the inference stage, merged across resumed
sessions). Every row has its value in ``macro`` and ``n`` = values used. The statistics
(percentiles, SLO, goodput) and each row's metadata (``SPEED_ROWS``) are those of
``vlmhb.core.speed``, shared with ``bench-serve`` (see docs/inference-client.md):

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

from vlmhb.core.rundir import AnswerRow, InferenceStats
from vlmhb.core.speed import STAT_COLUMNS, describe, goodput, meets_slo, rate

MIB = 1024 * 1024


def _row(label: str, value: float, n: int) -> dict[str, object]:
    """One row of ``metrics_general.csv``; ``label`` must be a name of ``SPEED_ROWS``."""
    return {"metric": label, "macro": value, "n": n}


def timing_rows(
    answers: Iterable[AnswerRow],
    stats: InferenceStats | None = None,
    slo: dict[str, float] | None = None,
) -> list[dict[str, object]]:
    """The timing rows (module docstring) for the scored answer rows and the run's
    ``inference_stats.json`` record (``RunDir.read_stats``; None when there is none)."""
    rows: Sequence[AnswerRow] = list(answers)
    stats = stats or InferenceStats()
    timings = [row.timings for row in rows]  # once per row: each is a model dump
    good = [t for row, t in zip(rows, timings, strict=True) if not row.error]

    def column(name: str, source: Sequence[dict[str, float | None]] = good) -> list[float]:
        key = "itl_ms_mean" if name == "itl_ms" else name
        return [v for t in source if (v := t.get(key)) is not None]

    records: list[dict[str, object]] = []
    for name in STAT_COLUMNS:
        data = column(name, timings if name == "queue_ms" else good)
        records += [
            _row(f"{name}_{how}", value, len(data)) for how, value in describe(data).items()
        ]
        if name == "itl_ms":
            gaps = column("itl_ms_max")
            records.append(_row("itl_ms_max", max(gaps) if gaps else math.nan, len(gaps)))
    errors = len(rows) - len(good)
    records.append(_row("error_rate", errors / len(rows) if rows else math.nan, len(rows)))
    tokens = column("completion_tokens")
    mean_tokens = describe(tokens)["mean"]
    records.append(_row("completion_tokens_mean", mean_tokens, len(tokens)))
    active = stats.active_s if stats.active_s and stats.active_s > 0 else None
    succeeded = ((stats.requests or 0) - (stats.errors or 0)) if stats.requests else None
    rps = rate(succeeded, active)
    records += [
        _row("throughput_rps", rps, succeeded or 0),
        _row("throughput_output_tok_s", rps * mean_tokens, succeeded or 0),
        _row("duration_inference_s", active or math.nan, stats.requests or 0),
    ]
    if sessions := len(stats.sessions):
        records += [
            _row("sessions", sessions, sessions),
            _row("sessions_interrupted", stats.interrupted, sessions),
        ]
    if slo:
        met = sum(
            1
            for row, t in zip(rows, timings, strict=True)
            if meets_slo(t, slo, failed=bool(row.error))
        )
        fraction, good_rps = goodput(met, len(rows), stats.requests or None, active)
        records += [
            _row("goodput_fraction", fraction, len(rows)),
            _row("goodput_rps", good_rps, len(rows)),
        ]
    for label, value in (
        ("peak_rss_mib", stats.peak_rss_bytes),
        ("peak_gpu_mib", stats.peak_gpu_bytes),
    ):
        if value is not None:
            records.append(_row(label, value / MIB, 1))
    return records
