"""What the agent reports of its GPUs through NVML. No GPU or driver exists on the test
machines, so NVML itself is a stand-in module here (the one fake: it answers as
``nvidia-ml-py`` does, including a reading the GPU does not support)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest

from vlmhb.agent.gpus import GpuPool


@dataclass
class Memory:
    total: int
    used: int


@dataclass
class Rates:
    gpu: int


class NotSupported(Exception):
    """As ``pynvml.NVMLError_NotSupported``."""


def stand_in_nvml(temperatures: list[int | None]) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]

    def temperature(handle: int, sensor: int) -> int:
        assert sensor == 0
        value = temperatures[handle]
        if value is None:
            raise NotSupported
        return value

    functions: dict[str, Any] = {
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlDeviceGetCount": lambda: len(temperatures),
        "nvmlDeviceGetHandleByIndex": lambda index: index,
        "nvmlDeviceGetMemoryInfo": lambda h: Memory(80 * 2**30, (h + 1) * 2**30),
        "nvmlDeviceGetUUID": lambda h: f"GPU-{h:04d}",
        "nvmlDeviceGetName": lambda h: b"NVIDIA H100",
        "nvmlDeviceGetTemperature": temperature,
        "nvmlDeviceGetUtilizationRates": lambda h: Rates(30 + h),
    }
    for name, function in functions.items():
        setattr(module, name, function)
    return module


def test_inventory_reports_temperature_and_utilisation_where_the_gpu_gives_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", stand_in_nvml([61, None]))
    pool = GpuPool(["0", "GPU-0001"])
    pool.take(1, "stage-a")
    first, second = pool.inventory()
    assert (first.id, first.index, first.name, first.busy) == ("0", 0, "NVIDIA H100", True)
    assert (first.temperature_c, first.utilization_pct) == (61, 30)
    assert (first.memory_total_mb, first.memory_used_mb) == (80 * 1024, 1024)
    assert (second.index, second.uuid, second.busy) == (1, "GPU-0001", False)
    assert second.temperature_c is None and second.utilization_pct == 31


def test_without_a_driver_declared_indexes_stand_for_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = types.ModuleType("pynvml")

    def no_driver() -> None:
        raise OSError("NVML Shared Library Not Found")

    broken.nvmlInit = no_driver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    (gpu,) = GpuPool(["3"]).inventory()
    assert (gpu.id, gpu.index, gpu.name, gpu.temperature_c) == ("3", 3, None, None)
