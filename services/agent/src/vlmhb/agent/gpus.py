"""The GPUs this agent may give stages: the declared ids, what NVML says of them, and which
are taken.

Ids are declared as strings, each an index (``0``) or a UUID (``GPU-…``). NVML (when a
driver answers) maps UUIDs to indexes and adds name and memory; without it a declared
index stands for itself (the tests' fake GPUs) and a UUID cannot be given to a stage."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vlmhb.agent.wire import GpuInfo


class NotEnoughGpus(Exception):
    """Fewer free GPUs than a stage asks for."""


@dataclass(frozen=True)
class NvmlGpu:
    index: int
    uuid: str
    name: str
    memory_total_mb: int
    memory_used_mb: int
    temperature_c: int | None = None
    utilization_pct: int | None = None


@contextlib.contextmanager
def _nvml() -> Iterator[Any]:
    """The NVML module, initialised; ``None`` when there is no driver (no GPU host)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no library, no driver: a host without GPUs
        yield None
        return
    try:
        yield pynvml
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def nvml_gpus() -> list[NvmlGpu]:
    """Every GPU NVML knows (none without a driver)."""
    with _nvml() as nvml:
        if nvml is None:
            return []
        found = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            found.append(
                NvmlGpu(
                    index=index,
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_mb=int(memory.total) // 2**20,
                    memory_used_mb=int(memory.used) // 2**20,
                    temperature_c=_optional(
                        nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
                    ),
                    utilization_pct=_optional(
                        lambda h: nvml.nvmlDeviceGetUtilizationRates(h).gpu, handle
                    ),
                )
            )
        return found


def _optional(read: Callable[..., Any], *args: Any) -> int | None:
    """``read(*args)``: a reading some GPUs and drivers do not give (``None`` then)."""
    try:
        return int(read(*args))
    except Exception:  # NVMLError_NotSupported and the like
        return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class GpuPool:
    """The declared GPUs and which stage holds each (thread-safe)."""

    def __init__(self, declared: Sequence[str]) -> None:
        self.declared = list(declared)
        self._holders: dict[str, str] = {}
        self._lock = threading.Lock()

    def take(self, count: int, holder: str) -> list[str]:
        """``count`` free ids, now held by ``holder``; ``NotEnoughGpus`` if fewer are free."""
        with self._lock:
            free = [gpu for gpu in self.declared if gpu not in self._holders]
            if len(free) < count:
                raise NotEnoughGpus(
                    f"{count} GPU(s) asked, {len(free)} of {len(self.declared)} free "
                    f"(free: {','.join(free) or 'none'})"
                )
            taken = free[:count]
            for gpu in taken:
                self._holders[gpu] = holder
            return taken

    def release(self, holder: str) -> None:
        with self._lock:
            for gpu in [g for g, h in self._holders.items() if h == holder]:
                del self._holders[gpu]

    def free(self) -> list[str]:
        with self._lock:
            return [gpu for gpu in self.declared if gpu not in self._holders]

    def inventory(self) -> list[GpuInfo]:
        """Each declared GPU, with NVML's facts when it knows the id."""
        known = nvml_gpus()
        by_id = {str(g.index): g for g in known} | {g.uuid: g for g in known}
        free = set(self.free())
        rows = []
        for gpu in self.declared:
            seen = by_id.get(gpu)
            row = GpuInfo(id=gpu, busy=gpu not in free)
            if seen is not None:
                row = row.model_copy(
                    update={
                        "index": seen.index,
                        "uuid": seen.uuid,
                        "name": seen.name,
                        "memory_total_mb": seen.memory_total_mb,
                        "memory_used_mb": seen.memory_used_mb,
                        "temperature_c": seen.temperature_c,
                        "utilization_pct": seen.utilization_pct,
                    }
                )
            elif gpu.isdigit():
                row.index = int(gpu)
            rows.append(row)
        return rows

    def indexes(self, ids: Sequence[str]) -> list[int]:
        """The device indexes of ``ids`` (a stage's ``gpu_ids``): a UUID is looked up in
        NVML; ``ValueError`` for one NVML does not know."""
        uuids = {g.uuid: g.index for g in nvml_gpus()} if any(not i.isdigit() for i in ids) else {}
        indexes = []
        for gpu in ids:
            if gpu.isdigit():
                indexes.append(int(gpu))
            elif gpu in uuids:
                indexes.append(uuids[gpu])
            else:
                raise ValueError(f"GPU {gpu!r} is neither an index nor a UUID NVML knows")
        return indexes
