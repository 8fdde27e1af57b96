"""The ``Executor`` contract and the ``local`` executor (asyncio, this process)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from vlmhb.core.contracts import StageResult, StageTask
from vlmhb.core.envs.base import Emit, EnvManager


class Executor(Protocol):
    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        """Start ``task``; the future resolves to its result."""
        ...

    def cancel(self, task_id: str) -> None: ...


class LocalExecutor:
    """Runs each stage through an ``EnvManager`` as a task of the running event loop."""

    def __init__(self, env_manager: EnvManager) -> None:
        self.env_manager = env_manager
        self._running: dict[str, asyncio.Task[StageResult]] = {}

    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        handle = asyncio.ensure_future(self.env_manager.execute(task, emit))
        self._running[task.id] = handle
        handle.add_done_callback(lambda _: self._running.pop(task.id, None))
        return handle

    def cancel(self, task_id: str) -> None:
        handle = self._running.get(task_id)
        if handle is not None:
            handle.cancel()
