"""Request counters, latency histograms and memory peaks of the API wrapper, rendered as
Prometheus text (exposition format 0.0.4) for ``GET /metrics``.

GPU memory is read through NVML (``pynvml``, package ``nvidia-ml-py``) only when it is
importable and finds a GPU; otherwise no GPU series are exported. The devices are those
of ``CUDA_VISIBLE_DEVICES`` when it lists indices, else all.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib
import os
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

LATENCY_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)


class Histogram:
    """A Prometheus histogram with fixed upper bounds (seconds)."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out, total = [], 0
        for bound, count in zip([*self.buckets, float("inf")], self.counts, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{le="{le}"}} {total}')
        return [*out, f"{name}_sum {round(self.sum, 6)}", f"{name}_count {self.count}"]


class GpuMemory:
    """Used memory per visible GPU through NVML; ``open()`` is None without NVML or GPU."""

    def __init__(self, nvml: ModuleType, handles: dict[str, Any]) -> None:
        self.nvml = nvml
        self.handles = handles

    @classmethod
    def open(cls) -> GpuMemory | None:
        try:
            nvml = importlib.import_module("pynvml")
            nvml.nvmlInit()
            count = int(nvml.nvmlDeviceGetCount())
        except Exception:
            return None
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        indices = (
            [int(i) for i in visible.split(",") if i.strip().isdigit()]
            if visible
            else list(range(count))
        )
        handles = {str(i): nvml.nvmlDeviceGetHandleByIndex(i) for i in indices if i < count}
        return cls(nvml, handles) if handles else None

    def used(self) -> dict[str, int]:
        """Bytes in use on each device, by NVML index."""
        return {
            index: int(self.nvml.nvmlDeviceGetMemoryInfo(handle).used)
            for index, handle in self.handles.items()
        }


def _metric(name: str, kind: str, help_text: str, samples: list[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


@dataclass
class Telemetry:
    """Counters updated by the server; ``render`` gives the ``GET /metrics`` body."""

    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    auth_failures: int = 0
    peak_rss: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    ttft: Histogram = field(default_factory=Histogram)
    gpu: GpuMemory | None = field(default_factory=GpuMemory.open)
    peak_gpu: dict[str, int] = field(default_factory=dict)
    _process: psutil.Process = field(default_factory=psutil.Process, repr=False)

    def sample_memory(self) -> int:
        """Current RSS in bytes; keeps the peaks of RSS and GPU memory seen."""
        rss = int(self._process.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        if self.gpu is not None:
            with contextlib.suppress(Exception):
                for index, used in self.gpu.used().items():
                    self.peak_gpu[index] = max(self.peak_gpu.get(index, 0), used)
        return rss

    def started(self) -> None:
        self.requests += 1
        self.in_flight += 1

    def finished(
        self, duration_s: float, error: bool, status: int | None = None, ttft_s: float | None = None
    ) -> None:
        """One chat request done; ``status`` defaults to 500 on error, else 200."""
        self.in_flight -= 1
        self.latency.observe(duration_s)
        if ttft_s is not None:
            self.ttft.observe(ttft_s)
        self.statuses[status or (500 if error else 200)] += 1
        if error:
            self.errors += 1
        if self.requests % 64 == 1:
            self.sample_memory()

    def render(self) -> str:
        rss = self.sample_memory()
        lines = [
            *_metric(
                "vlmhb_requests_total",
                "counter",
                "Chat completion requests received.",
                [f"vlmhb_requests_total {self.requests}"],
            ),
            *_metric(
                "vlmhb_responses_total",
                "counter",
                "Finished chat completion requests by HTTP status.",
                [
                    f'vlmhb_responses_total{{status="{status}"}} {count}'
                    for status, count in sorted(self.statuses.items())
                ],
            ),
            *_metric(
                "vlmhb_request_errors_total",
                "counter",
                "Chat completion requests that failed.",
                [f"vlmhb_request_errors_total {self.errors}"],
            ),
            *_metric(
                "vlmhb_auth_failures_total",
                "counter",
                "Requests refused for a missing or wrong API key.",
                [f"vlmhb_auth_failures_total {self.auth_failures}"],
            ),
            *_metric(
                "vlmhb_requests_in_flight",
                "gauge",
                "Requests being served now.",
                [f"vlmhb_requests_in_flight {self.in_flight}"],
            ),
            *_metric(
                "vlmhb_request_duration_seconds",
                "histogram",
                "Time from request to the end of the reply.",
                self.latency.lines("vlmhb_request_duration_seconds"),
            ),
            *_metric(
                "vlmhb_time_to_first_token_seconds",
                "histogram",
                "Time from request to the first streamed chunk.",
                self.ttft.lines("vlmhb_time_to_first_token_seconds"),
            ),
            *_metric(
                "vlmhb_process_rss_bytes",
                "gauge",
                "Resident memory of the server now.",
                [f"vlmhb_process_rss_bytes {rss}"],
            ),
            *_metric(
                "vlmhb_process_peak_rss_bytes",
                "gauge",
                "Highest resident memory sampled (background sampler and scrapes).",
                [f"vlmhb_process_peak_rss_bytes {self.peak_rss}"],
            ),
        ]
        if self.peak_gpu:
            lines += _metric(
                "vlmhb_gpu_peak_memory_used_bytes",
                "gauge",
                "Highest GPU memory in use sampled through NVML, per device.",
                [
                    f'vlmhb_gpu_peak_memory_used_bytes{{gpu="{index}"}} {used}'
                    for index, used in sorted(self.peak_gpu.items())
                ],
            )
        return "\n".join(lines) + "\n"
