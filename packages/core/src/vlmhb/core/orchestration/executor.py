"""The ``Executor`` contract and the ``local`` executor (asyncio, this process)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from vlmhb.core.contracts import StageResult, StageTask
from vlmhb.core.envs.base import Emit
from vlmhb.core.envs.select import EnvManagers


class Executor(Protocol):
    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        """Start ``task``; the future resolves to its result."""
        ...

    def cancel(self, task_id: str) -> None:
        """Stop a submitted task: its stage process gets SIGTERM, then SIGKILL after the
        grace; its future resolves to a ``CANCELLED`` result (or raises
        ``CancelledError``). Asked twice: no more grace."""
        ...

    def cleanup(self) -> None:
        """The experiment ended: release what the executor holds (its env managers)."""
        ...


class LocalExecutor:
    """Runs each stage as a task of the running event loop, through the ``EnvManager``
    of its ``task.env.kind`` (picked from the env registry), its data synced first."""

    def __init__(self, envs: EnvManagers) -> None:
        self.envs = envs
        self._running: dict[str, asyncio.Task[StageResult]] = {}

    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        handle = asyncio.ensure_future(self.envs.run(task, emit))
        self._running[task.id] = handle
        handle.add_done_callback(lambda _: self._running.pop(task.id, None))
        return handle

    def cancel(self, task_id: str) -> None:
        handle = self._running.get(task_id)
        if handle is not None:
            handle.cancel()

    def cleanup(self) -> None:
        self.envs.cleanup()
