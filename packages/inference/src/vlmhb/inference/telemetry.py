"""Request counters, latency histograms and memory peaks of the API wrapper, served as
Prometheus text for ``GET /metrics`` (``prometheus_client``; ``vlmhb.core.metrics``).

GPU memory is read through NVML (``pynvml``, package ``nvidia-ml-py``) only when it is
importable and finds a GPU; otherwise no GPU series are exported. The devices are those
of ``CUDA_VISIBLE_DEVICES`` when it lists indices, else all.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from types import ModuleType
from typing import Any, Literal

import psutil
from prometheus_client import Counter, Gauge, Histogram

from vlmhb.core.metrics import GaugeReading, ScrapedGauges, exposition, new_registry

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


class Telemetry:
    """What the server counts (``prometheus_client`` series in a registry of its own);
    ``render`` gives the ``GET /metrics`` body."""

    def __init__(self, gpu: GpuMemory | Literal["open"] | None = "open") -> None:
        self.gpu = GpuMemory.open() if gpu == "open" else gpu
        self.peak_rss = 0
        self.peak_gpu: dict[str, int] = {}
        self._seen = 0
        self._process = psutil.Process()
        self.registry = new_registry(ScrapedGauges(self._gpu_peaks))
        registry = self.registry
        self.requests = Counter(
            "vlmhb_requests", "Chat completion requests received.", registry=registry
        )
        self.responses = Counter(
            "vlmhb_responses",
            "Finished chat completion requests by HTTP status.",
            ["status"],
            registry=registry,
        )
        self.errors = Counter(
            "vlmhb_request_errors", "Chat completion requests that failed.", registry=registry
        )
        self.auth_failures = Counter(
            "vlmhb_auth_failures",
            "Requests refused for a missing or wrong API key.",
            registry=registry,
        )
        self.in_flight = Gauge(
            "vlmhb_requests_in_flight", "Requests being served now.", registry=registry
        )
        self.latency = Histogram(
            "vlmhb_request_duration_seconds",
            "Time from request to the end of the reply.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.ttft = Histogram(
            "vlmhb_time_to_first_token_seconds",
            "Time from request to the first streamed chunk.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        Gauge(
            "vlmhb_process_rss_bytes", "Resident memory of the server now.", registry=registry
        ).set_function(self.sample_memory)
        Gauge(
            "vlmhb_process_peak_rss_bytes",
            "Highest resident memory sampled (background sampler and scrapes).",
            registry=registry,
        ).set_function(lambda: self.peak_rss)

    def sample_memory(self) -> int:
        """Current RSS in bytes; keeps the peaks of RSS and GPU memory seen."""
        rss = int(self._process.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        if self.gpu is not None:
            with contextlib.suppress(Exception):
                for index, used in self.gpu.used().items():
                    self.peak_gpu[index] = max(self.peak_gpu.get(index, 0), used)
        return rss

    def _gpu_peaks(self) -> list[GaugeReading]:
        if not self.peak_gpu:
            return []
        return [
            GaugeReading(
                "vlmhb_gpu_peak_memory_used_bytes",
                "Highest GPU memory in use sampled through NVML, per device.",
                ("gpu",),
                {(index,): float(used) for index, used in self.peak_gpu.items()},
            )
        ]

    def started(self) -> None:
        self.requests.inc()
        self.in_flight.inc()
        self._seen += 1

    def auth_failed(self) -> None:
        self.auth_failures.inc()

    def finished(
        self, duration_s: float, error: bool, status: int | None = None, ttft_s: float | None = None
    ) -> None:
        """One chat request done; ``status`` defaults to 500 on error, else 200."""
        self.in_flight.dec()
        self.latency.observe(duration_s)
        if ttft_s is not None:
            self.ttft.observe(ttft_s)
        self.responses.labels(str(status or (500 if error else 200))).inc()
        if error:
            self.errors.inc()
        if self._seen % 64 == 1:
            self.sample_memory()

    def render(self) -> str:
        """The ``GET /metrics`` body (``METRICS_CONTENT_TYPE``)."""
        return exposition(self.registry).decode()
