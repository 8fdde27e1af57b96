"""Stage tasks running on this agent: each in a background asyncio task through the env
manager of its ``env.kind``, its events buffered for long polls, its result kept a while
after it ends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from pathlib import Path

from vlmhb.agent.gpus import GpuPool
from vlmhb.agent.wire import AGENT_LABEL, StageEvent, StageStatus
from vlmhb.core.contracts import Event, StageResult, StageTask, TaskState, failed_result
from vlmhb.core.envs.base import EnvManager
from vlmhb.core.envs.select import EnvManagers
from vlmhb.core.envs.stage_data import run_with_data
from vlmhb.core.registries import get_registries


class AlreadyRunning(Exception):
    """A stage with this id runs here already (``attempt``: the one running)."""

    def __init__(self, stage_id: str, attempt: int) -> None:
        super().__init__(f"stage {stage_id} already runs here (attempt {attempt})")
        self.attempt = attempt


class AgentEnvs(EnvManagers):
    """The env managers of this agent: the registry's kinds, the ``docker`` one labelling
    its containers with the agent's name."""

    def __init__(self, cache_dir: Path, agent_name: str) -> None:
        super().__init__(cache_dir, get_registries().envs)
        self.agent_name = agent_name

    def for_kind(self, kind: str) -> EnvManager:
        if kind == "docker" and kind not in self._managers:
            from vlmhb.containers.docker_env.manager import DockerEnvManager

            self._managers[kind] = DockerEnvManager(
                self.cache_dir, labels={AGENT_LABEL: self.agent_name}
            )
        return super().for_kind(kind)


class StageRecord:
    """One stage attempt: its events (bounded), its result once it ends."""

    def __init__(self, task: StageTask, gpu_ids: list[str], events_kept: int) -> None:
        self.task = task
        self.gpu_ids = gpu_ids
        self.events: deque[StageEvent] = deque(maxlen=events_kept)
        self.seq = 0
        self.result: StageResult | None = None
        self.finished_at: float | None = None
        self.job: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def emit(self, event: Event) -> None:
        """The env manager's ``emit``: buffer the event, wake the long polls."""
        self.seq += 1
        self.events.append(StageEvent(seq=self.seq, event=event))
        self._wake()

    def finish(self, result: StageResult) -> None:
        self.result = result
        self.finished_at = time.monotonic()
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def status(self) -> StageStatus:
        return StageStatus(
            stage_id=self.task.id,
            attempt=self.task.attempt,
            state="running" if self.result is None else "finished",
            result=self.result,
        )

    async def events_after(self, after: int, wait_s: float) -> tuple[list[StageEvent], bool]:
        """Events with ``seq > after``, waiting up to ``wait_s`` for one when there are
        none yet; and whether the stage has ended (no event follows those)."""
        deadline = time.monotonic() + wait_s
        while True:
            changed = self._changed
            found = [e for e in self.events if e.seq > after]
            left = deadline - time.monotonic()
            if found or self.result is not None or left <= 0:
                return found, self.result is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)


class StageRunner:
    """Starts, tracks and stops this agent's stages."""

    def __init__(
        self, envs: EnvManagers, gpus: GpuPool, events_kept: int, finished_kept_s: float
    ) -> None:
        self.envs = envs
        self.gpus = gpus
        self.events_kept = events_kept
        self.finished_kept_s = finished_kept_s
        self._stages: dict[str, StageRecord] = {}

    def start(self, task: StageTask, gpus: int) -> StageRecord:
        """Take ``gpus`` free GPUs and run ``task`` in the background. ``AlreadyRunning``,
        ``NotEnoughGpus``; an unknown env kind raises the registry's error."""
        self._forget_expired()
        current = self._stages.get(task.id)
        if current is not None and current.result is None:
            raise AlreadyRunning(task.id, current.task.attempt)
        manager = self.envs.for_kind(task.env.kind)
        gpu_ids = self.gpus.take(gpus, task.id)
        try:
            indexes = self.gpus.indexes(gpu_ids)
        except ValueError:
            self.gpus.release(task.id)
            raise
        task = task.model_copy(update={"gpu_ids": indexes})
        record = StageRecord(task, gpu_ids, self.events_kept)
        self._stages[task.id] = record
        record.job = asyncio.create_task(self._run(record, manager), name=f"stage {task.id}")
        return record

    async def _run(self, record: StageRecord, manager: EnvManager) -> None:
        task = record.task
        started = time.monotonic()
        try:
            result = await run_with_data(manager, task, record.emit)
        except asyncio.CancelledError:  # cancelled before the env manager took over
            result = _result(task, TaskState.CANCELLED, "cancelled before it started", started)
        except Exception as exc:  # the env manager failed: the host's doing, not the stage's
            message = f"env manager failed: {exc}"
            result = failed_result(task, message, time.monotonic() - started, "infrastructure")
        finally:
            self.gpus.release(task.id)
        record.finish(result)

    def get(self, stage_id: str) -> StageRecord | None:
        self._forget_expired()
        return self._stages.get(stage_id)

    def running(self) -> list[str]:
        return [sid for sid, record in list(self._stages.items()) if record.result is None]

    def stop(self, stage_id: str) -> bool:
        """Cancel the stage's task (its env manager stops it; the result becomes
        ``CANCELLED``); False when it is unknown or has ended."""
        record = self._stages.get(stage_id)
        if record is None or record.result is not None or record.job is None:
            return False
        record.job.cancel()
        return True

    async def shutdown(self) -> None:
        """Stop every running stage and wait for their results; then the envs' cleanup."""
        jobs = [r.job for r in self._stages.values() if r.job is not None and r.result is None]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await asyncio.to_thread(self.envs.cleanup)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for sid, record in list(self._stages.items()):
            if record.finished_at is not None and now - record.finished_at > self.finished_kept_s:
                del self._stages[sid]


def _result(task: StageTask, status: TaskState, message: str, started: float) -> StageResult:
    return StageResult(
        task_id=task.id,
        stage=task.stage,
        status=status,
        message=message,
        duration_s=time.monotonic() - started,
    )
