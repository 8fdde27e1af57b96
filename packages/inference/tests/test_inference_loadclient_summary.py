"""Run summary of bench-serve: throughput, goodput and stats (vlmhb.core.speed), server
peaks. Percentiles and SLO parsing are tested against references in core."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.scripted import ScriptedBackend
from vlmhb.inference.bench import metrics_url, parse_peaks, read_peaks
from vlmhb.inference.client import RequestResult
from vlmhb.inference.summary import request_meets_slo, summarize


def result(i: int, **values: Any) -> RequestResult:
    return RequestResult(id=str(i), **values)


def test_meets_slo_rules() -> None:
    slo = {"ttft": 100.0, "tpot": 10.0}
    assert request_meets_slo(result(0, ttft_ms=90, tpot_ms=10, latency_ms=500), slo)
    assert not request_meets_slo(result(1, ttft_ms=101, tpot_ms=5, latency_ms=500), slo)
    assert not request_meets_slo(result(2, ttft_ms=50, tpot_ms=11, latency_ms=500), slo)
    assert request_meets_slo(result(3, ttft_ms=50, tpot_ms=None, latency_ms=60), slo)  # 1 token
    assert not request_meets_slo(result(4, ttft_ms=None, latency_ms=150), slo)  # no stream: latency
    assert not request_meets_slo(result(5, error="HTTP 500", error_type="http_5xx"), slo)


def test_summary_throughput_goodput_and_stats() -> None:
    results = [
        result(
            i,
            ttft_ms=10.0 * (i + 1),
            latency_ms=100.0 + i,
            tpot_ms=2.0 + i,
            completion_tokens=10,
            prompt_tokens=5,
            queue_ms=float(i),
            itl_ms=[1.0, 3.0],
        )
        for i in range(8)
    ]
    results.append(result(8, error="timeout: ReadTimeout", error_type="timeout", queue_ms=50.0))
    summary = summarize(results, wall_s=2.0, slo={"ttft": 40.0}, peak_rss_bytes=123.0)
    assert (summary["requests"], summary["completed"], summary["failed"]) == (9, 8, 1)
    assert summary["error_types"] == {"timeout": 1}
    assert summary["request_throughput_rps"] == 4.0
    assert summary["output_throughput_tok_s"] == 40.0
    assert summary["total_input_tokens"] == 40
    ttfts = [10.0 * (i + 1) for i in range(8)]
    assert summary["ttft_ms_mean"] == pytest.approx(np.mean(ttfts))
    assert summary["ttft_ms_p99"] == pytest.approx(np.percentile(ttfts, 99))
    pooled = [1.0, 3.0] * 8  # every gap of every request
    assert summary["itl_ms_p50"] == np.percentile(pooled, 50) == 2.0
    assert summary["itl_ms_p90"] == pytest.approx(np.percentile(pooled, 90))
    assert summary["queue_ms_mean"] == pytest.approx((sum(range(8)) + 50) / 9)  # all rows
    assert summary["goodput_fraction"] == pytest.approx(4 / 9)  # ttft 10..40 meet it
    assert summary["goodput_rps"] == 2.0
    assert summary["peak_rss_bytes"] == 123.0


def test_parse_peaks_is_tolerant_of_names() -> None:
    text = (
        '# HELP x\nvlmhb_process_peak_rss_bytes 2048\nsomething_peak_rss{pid="1"} 4096\n'
        "vlmhb_process_rss_bytes 999999\n"
        'vlmhb_gpu_peak_memory_used_bytes{gpu="0"} 10\n'
        'vlmhb_gpu_peak_memory_used_bytes{gpu="1"} 5\nbroken_peak_rss NaNx\n'
    )
    peaks = parse_peaks(text)
    assert (peaks.rss_bytes, peaks.gpu_bytes) == (4096.0, 15.0)
    assert parse_peaks("up 1\n").rss_bytes is None
    assert metrics_url("http://h:1/v1/") == "http://h:1/metrics"


async def test_peak_rss_is_read_from_the_api_wrapper(serve: Any) -> None:
    backend = ScriptedBackend(ModelSpec(name="m", backend="scripted"))
    with serve(backend) as url:
        async with httpx.AsyncClient() as http:
            while (await http.get(url + "/health")).status_code != 200:
                pass
        peaks = read_peaks(url + "/v1")
    assert peaks.rss_bytes is not None and peaks.rss_bytes > 1_000_000
    assert read_peaks("http://127.0.0.1:9/v1").rss_bytes is None
