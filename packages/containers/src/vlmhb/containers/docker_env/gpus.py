"""GPUs of a stage container: the ids the scheduler gave the task, as a ``DeviceRequest``.

The engine's GPU runtime shows the container only those devices, numbered from 0, so
``CUDA_VISIBLE_DEVICES`` inside is ``0..n-1`` whatever the host ids (indexes or UUIDs)."""

from __future__ import annotations

from collections.abc import Sequence

from docker.types import DeviceRequest


def device_requests(gpu_ids: Sequence[int | str]) -> list[DeviceRequest]:
    """One request for exactly these GPUs (none when the task has none)."""
    if not gpu_ids:
        return []
    return [DeviceRequest(device_ids=[str(i) for i in gpu_ids], capabilities=[["gpu"]])]


def visible_devices(gpu_ids: Sequence[int | str]) -> str:
    """``CUDA_VISIBLE_DEVICES`` inside the container: the requested GPUs renumbered."""
    return ",".join(str(i) for i in range(len(gpu_ids)))
