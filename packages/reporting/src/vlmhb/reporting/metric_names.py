"""What a metric name says: quality or timing, and which direction is better.

Metric names may carry normalisation options as suffixes (``cer_casefold``), so the
direction is decided by the first word of the name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

TIMING_PREFIXES = (
    "latency_ms",
    "ttft_ms",
    "tpot_ms",
    "itl_ms",
    "queue_ms",
    "error_rate",
    "throughput",
    "goodput",
    "peak_rss",
    "peak_gpu",
    "prompt_tokens",
    "completion_tokens",
    "duration",
    "requests",
    "sessions",
)
# Timing rows the experiment comparison shows (in the order the runs list them).
COMPARISON_TIMING = frozenset(
    {
        "latency_ms_p50",
        "latency_ms_p99",
        "ttft_ms_p50",
        "tpot_ms_p50",
        "error_rate",
        "throughput_rps",
        "throughput_output_tok_s",
        "goodput_fraction",
        "goodput_rps",
        "peak_rss_mib",
        "peak_gpu_mib",
    }
)
# Counts that describe a run but are neither better nor worse when larger.
NEUTRAL_PREFIXES = ("prompt_tokens", "completion_tokens", "requests", "samples", "n_", "sessions")
LOWER_IS_BETTER_WORDS = frozenset(
    {
        "cer",
        "wer",
        "mer",
        "wil",
        "ned",
        "edit",
        "error",
        "errors",
        "latency",
        "ttft",
        "tpot",
        "queue",
        "duration",
        "loss",
        "itl",
        "peak",
    }
)
_WORD = re.compile(r"[a-z0-9]+")


def is_timing_metric(name: str) -> bool:
    """True for speed/reliability rows of ``metrics_general.csv`` (``latency_ms_p50`` ...)."""
    lowered = name.lower()
    return lowered.startswith(TIMING_PREFIXES) or "_ms_" in lowered or lowered.endswith("_ms")


def has_direction(name: str) -> bool:
    """False for neutral counts (token counts, request numbers) that have no "best"."""
    return not name.lower().startswith(NEUTRAL_PREFIXES)


def default_higher_is_better(name: str) -> bool:
    """Direction by name: CER/WER/latency/error rate are lower-is-better, the rest higher."""
    lowered = name.lower()
    words = _WORD.findall(lowered)
    if words and words[0] in LOWER_IS_BETTER_WORDS:
        return False
    return not ("_ms_" in lowered or lowered.endswith("_ms"))


def directions(
    metrics: Iterable[str], overrides: Mapping[str, bool] | None = None
) -> dict[str, bool]:
    """``{metric: higher_is_better}`` from ``overrides`` or the name-based default."""
    given = overrides or {}
    return {m: given[m] if m in given else default_higher_is_better(m) for m in metrics}
