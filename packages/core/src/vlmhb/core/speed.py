"""Speed statistics, defined once for ``vlmhb bench-serve`` and the evaluation stage.

Definitions follow vLLM's ``bench serve`` (docs/inference-client.md):

- percentiles are linear (numpy's default); ``describe`` gives the ``STATS`` of a column
  (mean, p50, p90, p99), NaN for no values;
- an SLO is ``"ttft:500,tpot:50"`` or ``{ttft: 500}`` (ms; keys ttft, tpot, itl = a
  request's largest gap, e2el = latency). A request meets it when it succeeded and every
  given value is within its limit; a missing TTFT (not streamed) is judged by the
  latency, a missing TPOT/ITL (fewer than 2 tokens) passes;
- throughput = count / wall-clock seconds; goodput fraction = requests meeting the SLO /
  requests judged, goodput rate = that fraction × requests sent / wall-clock seconds.

``SPEED_ROWS`` declares the metadata (direction, unit, range, kind) of every speed row of
``metrics_general.csv`` (``vlmhb.metrics.timing`` computes them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vlmhb.core.errors import VlmhbError
from vlmhb.core.metric_info import MetricInfo, MetricKind

STATS = ("mean", "p50", "p90", "p99")
# Per-request timing columns summarised by ``describe`` (answers.csv / RequestResult).
STAT_COLUMNS = ("latency_ms", "ttft_ms", "tpot_ms", "itl_ms", "queue_ms")
# SLO key -> the per-request value it limits; ``latency`` is another name of ``e2el``.
SLO_COLUMNS = {"ttft": "ttft_ms", "tpot": "tpot_ms", "itl": "itl_ms_max", "e2el": "latency_ms"}
SLO_ALIASES = {"latency": "e2el"}
SLO_NAMES = (*SLO_COLUMNS, *SLO_ALIASES)


class SloError(VlmhbError, ValueError):
    """An SLO that cannot be parsed (a ``ValueError``, so Pydantic reports it per field)."""


def parse_slo(value: str | Mapping[str, Any] | None) -> dict[str, float]:
    """``"ttft:500, tpot:50"`` or a mapping → ``{"ttft": 500.0, "tpot": 50.0}`` (ms,
    keys lower-cased, ``latency`` → ``e2el``); ``SloError`` for an unknown key or a limit
    that is not a positive finite number."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        pairs: list[tuple[Any, Any]] = list(value.items())
    else:
        pairs = [
            (part.split(":", 1)[0], part.split(":", 1)[1] if ":" in part else "")
            for part in str(value).split(",")
            if part.strip()
        ]
    slo: dict[str, float] = {}
    for key, limit in pairs:
        name = str(key).strip().lower()
        if name not in SLO_NAMES:
            raise SloError(f"unknown SLO {name!r}; use {', '.join(SLO_NAMES)}")
        try:
            number = float(limit.strip() if isinstance(limit, str) else limit)
        except (TypeError, ValueError):
            raise SloError(f"SLO {name!r} needs a number of ms, got {limit!r}") from None
        if not 0 < number < math.inf:
            raise SloError(f"SLO {name!r} must be > 0 ms, got {limit!r}")
        slo[SLO_ALIASES.get(name, name)] = number
    return slo


def meets_slo(timings: Mapping[str, float | None], slo: Mapping[str, float], failed: bool) -> bool:
    """Whether one request (its per-request ``timings`` by column name) meets ``slo``."""
    if failed:
        return False
    for key, limit in slo.items():
        value = timings.get(SLO_COLUMNS[key])
        if key == "ttft" and value is None:
            value = timings.get("latency_ms")
        if value is not None and value > limit:
            return False
    return True


def percentile(values: Sequence[float], q: float, *, ordered: bool = False) -> float:
    """Linear-interpolated ``q``-th percentile (``numpy.percentile``'s default), NaN when
    empty; ``ordered`` says ``values`` are sorted already."""
    if not values:
        return math.nan
    data = values if ordered else sorted(values)
    rank = (len(data) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def describe(values: Iterable[float]) -> dict[str, float]:
    """``{mean, p50, p90, p99}`` of ``values`` (NaN each when there are none)."""
    data = sorted(values)
    mean = math.fsum(data) / len(data) if data else math.nan
    return {"mean": mean} | {
        stat: percentile(data, float(stat[1:]), ordered=True) for stat in STATS[1:]
    }


def rate(count: float | None, seconds: float | None) -> float:
    """``count / seconds``; NaN without a count or a positive duration."""
    if count is None or seconds is None or not seconds > 0:
        return math.nan
    return count / seconds


def goodput(met: int, judged: int, sent: int | None, seconds: float | None) -> tuple[float, float]:
    """(fraction of the ``judged`` requests that ``met`` the SLO, that fraction × ``sent``
    requests per second of ``seconds``)."""
    fraction = met / judged if judged else math.nan
    return fraction, rate(sent, seconds) * fraction


def _row(
    name: str,
    kind: MetricKind,
    higher: bool | None,
    unit: str,
    description: str,
    high: float | None = None,
) -> MetricInfo:
    return MetricInfo(
        name=name,
        kind=kind,
        higher_is_better=higher,
        unit=unit,
        range=(0.0, high),
        description=description,
    )


_STAT_WORDS = {"mean": "mean", "p50": "median", "p90": "90th percentile", "p99": "99th percentile"}
_COLUMN_WORDS = {
    "latency_ms": "end-to-end request latency",
    "ttft_ms": "time to first token",
    "tpot_ms": "time per output token after the first",
    "itl_ms": "inter-token gap (per-request mean)",
    "queue_ms": "wait for a client concurrency slot (all requests)",
}

SPEED_ROWS: dict[str, MetricInfo] = {
    info.name: info
    for info in (
        *(
            _row(f"{col}_{stat}", "speed", False, "ms", f"{_STAT_WORDS[stat]} {words}")
            for col, words in _COLUMN_WORDS.items()
            for stat in STATS
        ),
        _row("itl_ms_max", "speed", False, "ms", "largest inter-token gap of any request"),
        _row("error_rate", "reliability", False, "fraction", "error rows / all rows", 1.0),
        _row("completion_tokens_mean", "cost", None, "tokens", "mean output tokens per answer"),
        _row("throughput_rps", "speed", True, "req/s", "successful requests per second"),
        _row("throughput_output_tok_s", "speed", True, "tok/s", "output tokens per second"),
        _row("duration_inference_s", "speed", False, "s", "active inference seconds"),
        _row("sessions", "reliability", None, "count", "inference sessions of the answers"),
        _row("sessions_interrupted", "reliability", False, "count", "sessions killed"),
        _row("goodput_fraction", "speed", True, "fraction", "requests meeting the SLO", 1.0),
        _row("goodput_rps", "speed", True, "req/s", "requests meeting the SLO per second"),
        _row("peak_rss_mib", "cost", False, "MiB", "server peak resident memory"),
        _row("peak_gpu_mib", "cost", False, "MiB", "server peak GPU memory (all GPUs)"),
    )
}
