"""GPU and CPU slots. A stage with ``gpus: N`` takes N GPUs (and sets
``CUDA_VISIBLE_DEVICES``); a stage without GPUs takes a CPU slot and never waits for a GPU."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from vlmhb.core.errors import VlmhbError
from vlmhb.core.settings import Settings


def detect_gpu_count(settings: Settings) -> int:
    """GPUs from NVML when it is installed and finds a driver, else from settings."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return settings.gpus or 0


@dataclass(frozen=True)
class Allocation:
    gpu_ids: tuple[int, ...]

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(str(i) for i in self.gpu_ids)


class ResourceManager:
    def __init__(self, gpu_count: int, cpu_slots: int) -> None:
        self.gpu_count = gpu_count
        self.cpu_slots = cpu_slots
        self._free_gpus = list(range(gpu_count))
        self._free_cpu = cpu_slots
        self._changed = asyncio.Condition()

    @classmethod
    def from_settings(cls, settings: Settings) -> ResourceManager:
        return cls(detect_gpu_count(settings), settings.cpu_slots)

    def check(self, gpus: int) -> None:
        if gpus > self.gpu_count:
            raise VlmhbError(
                f"a stage needs {gpus} GPU(s) but {self.gpu_count} are available "
                "(NVML, or VLMHB_GPUS when no driver is found)"
            )

    @asynccontextmanager
    async def allocate(self, gpus: int) -> AsyncIterator[Allocation]:
        """Wait for ``gpus`` GPUs (or one CPU slot when 0) and hold them for the block."""
        self.check(gpus)
        async with self._changed:
            if gpus:
                await self._changed.wait_for(lambda: len(self._free_gpus) >= gpus)
                taken = tuple(self._free_gpus[:gpus])
                del self._free_gpus[:gpus]
            else:
                await self._changed.wait_for(lambda: self._free_cpu > 0)
                self._free_cpu -= 1
                taken = ()
        try:
            yield Allocation(taken)
        finally:
            async with self._changed:
                if gpus:
                    self._free_gpus = sorted([*self._free_gpus, *taken])
                else:
                    self._free_cpu += 1
                self._changed.notify_all()

    def snapshot(self) -> dict[str, int]:
        return {
            "gpus": self.gpu_count,
            "gpus_free": len(self._free_gpus),
            "cpu_slots": self.cpu_slots,
            "cpu_slots_free": self._free_cpu,
        }
