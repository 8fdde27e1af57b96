"""Run summary of the load client: percentiles, throughput, SLOs and goodput.

The statistics are those of ``vlmhb.core.speed`` (shared with the evaluation stage): TTFT,
TPOT, ITL and end-to-end latency over successful requests, queue time over all; request
throughput = successful requests / run wall-clock; output throughput = their
``usage.completion_tokens`` / wall-clock; goodput = requests meeting every SLO /
wall-clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from vlmhb.core.speed import SLO_COLUMNS, STAT_COLUMNS, describe, goodput, meets_slo, rate
from vlmhb.inference.client import RequestResult


def request_meets_slo(result: RequestResult, slo: dict[str, float]) -> bool:
    """``result`` within every SLO (``vlmhb.core.speed.meets_slo``)."""
    timings = {column: getattr(result, column) for column in SLO_COLUMNS.values()}
    return meets_slo(timings, slo, failed=bool(result.error))


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
        "request_throughput_rps": rate(len(good), wall_s),
        "output_throughput_tok_s": rate(output_tokens, wall_s),
        "retried_requests": sum(1 for r in results if r.attempts > 1),
    }
    for column in STAT_COLUMNS:
        source = results if column == "queue_ms" else good
        for stat, value in describe(_column(source, column)).items():
            summary[f"{column}_{stat}"] = value
    if slo:
        met = sum(1 for r in results if request_meets_slo(r, slo))
        fraction, rps = goodput(met, len(results), len(results), wall_s)
        summary |= {"slo": dict(slo), "goodput_fraction": fraction, "goodput_rps": rps}
    summary["peak_rss_bytes"] = peak_rss_bytes
    summary["peak_gpu_bytes"] = peak_gpu_bytes
    return summary
