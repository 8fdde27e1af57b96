"""Telemetry: histogram exposition and GPU peaks through NVML."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace
from typing import Any

import pytest

from vlmhb.core.metrics import scraped
from vlmhb.inference.telemetry import GpuMemory, Telemetry


def test_histograms_are_cumulative_with_sum_and_count() -> None:
    telemetry = Telemetry(gpu=None)
    for duration in (0.004, 0.01, 0.5, 200.0):
        telemetry.started()
        telemetry.finished(duration, error=False)
    found = scraped(telemetry.render())
    name = "vlmhb_request_duration_seconds"
    assert found[f'{name}_bucket{{le="0.005"}}'] == 1
    assert found[f'{name}_bucket{{le="0.01"}}'] == 2
    assert found[f'{name}_bucket{{le="0.5"}}'] == 3
    assert found[f'{name}_bucket{{le="120.0"}}'] == 3
    assert found[f'{name}_bucket{{le="+Inf"}}'] == 4
    assert found[f"{name}_count"] == 4 and found[f"{name}_sum"] == pytest.approx(200.514)
    assert found["vlmhb_requests_in_flight"] == 0
    assert found['vlmhb_responses_total{status="200"}'] == 4


def test_gpu_peaks_follow_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """NVML needs an NVIDIA driver and GPU; a stand-in ``pynvml`` module plays two GPUs."""
    used = {0: 7, 1: 100}
    fake: Any = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None
    fake.nvmlDeviceGetCount = lambda: 2
    fake.nvmlDeviceGetHandleByIndex = lambda index: index
    fake.nvmlDeviceGetMemoryInfo = lambda handle: SimpleNamespace(used=used[handle])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    telemetry = Telemetry()
    telemetry.sample_memory()
    used[1] = 500
    telemetry.sample_memory()
    used[1] = 200
    text = telemetry.render()
    assert 'vlmhb_gpu_peak_memory_used_bytes{gpu="1"} 500' in text
    assert 'gpu="0"' not in text


def test_no_gpu_series_without_a_usable_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    broken: Any = types.ModuleType("pynvml")

    def no_driver() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    broken.nvmlInit = no_driver
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    assert GpuMemory.open() is None
    assert "gpu" not in Telemetry().render()
