"""Run summary of the load client: percentiles, throughput, SLOs and goodput.

Definitions follow vLLM's ``bench serve``: statistics of TTFT, TPOT, ITL and end-to-end
latency are over successful requests; request throughput = successful requests / run
wall-clock; output throughput = their ``usage.completion_tokens`` / wall-clock; goodput =
requests meeting every SLO / wall-clock. Percentiles are linear (numpy's default).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from vlmhb.core.errors import VlmhbError
from vlmhb.inference.client import RequestResult

# SLO keys and the per-request value each is checked against; "latency" = "e2el".
SLO_KEYS = {
    "ttft": "ttft_ms",
    "tpot": "tpot_ms",
    "e2el": "latency_ms",
    "latency": "latency_ms",
    "itl": "itl_ms_max",
}
STAT_COLUMNS = ("ttft_ms", "tpot_ms", "itl_ms", "latency_ms", "queue_ms")


class SloError(VlmhbError):
    """An SLO text that cannot be parsed."""


def parse_slo(text: str | dict[str, Any] | None) -> dict[str, float]:
    """``"ttft:500,tpot:50"`` (or a mapping) → ``{"ttft": 500.0, "tpot": 50.0}`` (ms).

    Keys: ttft, tpot, itl (max gap of a request), e2el / latency."""
    if text is None or text == "":
        return {}
    items = (
        text.items()
        if isinstance(text, dict)
        else (
            part.split(":", 1) if ":" in part else (part, "")
            for part in str(text).split(",")
            if part.strip()
        )
    )
    slo: dict[str, float] = {}
    for key, value in items:
        name = str(key).strip().lower()
        if name not in SLO_KEYS:
            raise SloError(f"unknown SLO {name!r} in {text!r}; use {', '.join(SLO_KEYS)}")
        try:
            limit = float(value)
        except (TypeError, ValueError) as exc:
            raise SloError(f"SLO {name!r} needs a number of ms, got {value!r}") from exc
        if not limit > 0 or math.isinf(limit):
            raise SloError(f"SLO {name!r} must be a positive number of ms, got {value!r}")
        slo["e2el" if name == "latency" else name] = limit
    return slo


def meets_slo(result: RequestResult, slo: dict[str, float]) -> bool:
    """A successful request within every SLO. A missing TTFT (no streaming) is judged by
    the latency, an upper bound; a missing TPOT/ITL (fewer than 2 tokens) meets it."""
    if result.error:
        return False
    for key, limit in slo.items():
        value = getattr(result, SLO_KEYS[key])
        if key == "ttft" and value is None:
            value = result.latency_ms
        if value is not None and value > limit:
            return False
    return True


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``numpy.percentile`` default), NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def describe(values: Sequence[float]) -> dict[str, float]:
    """mean, median (p50), p90, p99 of ``values`` (NaN when empty)."""
    mean = sum(values) / len(values) if values else math.nan
    return {
        "mean": mean,
        "median": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
    }


def _column(results: Sequence[RequestResult], name: str) -> list[float]:
    if name == "itl_ms":
        pooled = [gap for r in results for gap in r.itl_ms]
        if pooled:
            return pooled
        name = "itl_ms_mean"
    return [v for r in results if (v := getattr(r, name)) is not None]


def summarize(
    results: Sequence[RequestResult],
    wall_s: float,
    slo: dict[str, float] | None = None,
    peak_rss_bytes: float | None = None,
    peak_gpu_bytes: float | None = None,
) -> dict[str, Any]:
    """The run summary as a flat JSON-ready dict (see the module docstring).

    ITL statistics pool every gap of every request when the client kept them
    (``keep_itl``), else use the per-request mean gaps."""
    good = [r for r in results if not r.error]
    output_tokens = sum(r.completion_tokens or 0 for r in good)
    summary: dict[str, Any] = {
        "requests": len(results),
        "completed": len(good),
        "failed": len(results) - len(good),
        "error_types": dict(Counter(r.error_type or "other" for r in results if r.error)),
        "duration_s": wall_s,
        "total_input_tokens": sum(r.prompt_tokens or 0 for r in good),
        "total_output_tokens": output_tokens,
        "request_throughput_rps": len(good) / wall_s if wall_s > 0 else math.nan,
        "output_throughput_tok_s": output_tokens / wall_s if wall_s > 0 else math.nan,
        "retried_requests": sum(1 for r in results if r.attempts > 1),
    }
    for column in STAT_COLUMNS:
        source = results if column == "queue_ms" else good
        for stat, value in describe(_column(source, column)).items():
            summary[f"{column}_{stat}"] = value
    if slo:
        met = sum(1 for r in results if meets_slo(r, slo))
        summary["slo"] = dict(slo)
        summary["goodput_fraction"] = met / len(results) if results else math.nan
        summary["goodput_rps"] = met / wall_s if wall_s > 0 else math.nan
    summary["peak_rss_bytes"] = peak_rss_bytes
    summary["peak_gpu_bytes"] = peak_gpu_bytes
    return summary
