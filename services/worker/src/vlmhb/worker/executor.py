"""The ``celery`` executor: each stage attempt becomes a lease in the store and a message
on its queue; a watcher in the event loop relays the attempt's events and resolves the
future with the result a worker committed, or with an infrastructure failure when the
attempt's worker went silent (stale lease) or no worker ever claimed it. Retries are the
scheduler's (attempt + 1); cancel is the store's flag, which the worker obeys by stopping
the stage through its agent (never ``revoke(terminate=True)``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from vlmhb.core.contracts import StageResult, StageTask, TaskState
from vlmhb.core.envs.base import Emit
from vlmhb.core.envs.select import EnvManagers
from vlmhb.core.orchestration.executors import ExecutorSetup
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.secrets import revealed_json
from vlmhb.core.settings import Settings
from vlmhb.worker.app import TASK_NAME, make_app, route
from vlmhb.worker.settings import WorkerSettings
from vlmhb.worker.store import Attempt, AttemptState, LeaseStore

REMOTE_GPUS = 1024  # the scheduler's GPU pool: placement is the agents', not this host's


class CeleryExecutor:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.store = LeaseStore(settings.database_url())
        self.app = make_app(settings)
        self._leases: dict[str, int] = {}
        self._tasks: dict[str, StageTask] = {}
        self._futures: dict[str, asyncio.Future[StageResult]] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        future: asyncio.Future[StageResult] = asyncio.get_running_loop().create_future()
        self._futures[task.id] = future
        self._tasks[task.id] = task
        watcher = asyncio.ensure_future(self._drive(task, emit, future))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        future.add_done_callback(lambda _: self._forget(task.id, future))
        return future

    def cancel(self, task_id: str) -> None:
        """Set the attempt's cancel flag (its worker stops the stage through the agent);
        an attempt no worker holds yet ends ``CANCELLED`` here and can never be claimed."""
        future, task = self._futures.get(task_id), self._tasks.get(task_id)
        if future is None or task is None or future.done():
            return
        lease = self._leases.get(task_id)
        message = "cancelled before a worker took it"
        if lease is None:  # not in the store yet: ``_drive`` sends nothing
            _resolve(future, task, TaskState.CANCELLED, message)
            return
        self.store.request_cancel(lease)
        cancelled = StageResult(
            task_id=task_id, stage=task.stage, status=TaskState.CANCELLED, message=message
        )
        if self.store.cancel_unclaimed(lease, cancelled):
            future.set_result(cancelled)

    def cleanup(self) -> None:
        for watcher in list(self._watchers):
            watcher.cancel()
        self.store.close()
        with contextlib.suppress(Exception):
            self.app.close()

    # ---------------------------------------------------------------------------- watching

    async def _drive(
        self, task: StageTask, emit: Emit, future: asyncio.Future[StageResult]
    ) -> None:
        queue = route(self.settings, task)
        lease = await asyncio.to_thread(
            self.store.create, task.id, task.attempt, task.experiment, queue, revealed_json(task)
        )
        self._leases[task.id] = lease
        if future.done():  # cancelled while the lease was being created
            await asyncio.to_thread(self.store.mark_lost, lease, "cancelled before it was sent")
            return
        try:
            await asyncio.to_thread(self._send, task, lease, queue)
        except Exception as exc:  # the broker is away
            reason = f"could not queue the stage on {queue}: {exc}"
            await asyncio.to_thread(self.store.mark_lost, lease, reason)
            _resolve(future, task, TaskState.FAILED, reason, infrastructure=True)
            return
        seq = 0
        while not future.done():
            relayed = await asyncio.to_thread(self.store.events_after, lease, seq)
            for _, event in relayed:
                emit(event)
            if relayed:
                seq = relayed[-1][0]
            attempt = await asyncio.to_thread(self.store.get, lease)
            if attempt is not None and await self._ended(attempt, task, future):
                return
            await asyncio.sleep(self.settings.poll_s)

    def _send(self, task: StageTask, lease: int, queue: str) -> None:
        """The masked task goes through the broker; its worker reads the secrets from the
        lease row (``LeaseStore.private_task``)."""
        self.app.send_task(TASK_NAME, args=[task.model_dump_json(), lease], queue=queue)

    async def _ended(
        self, attempt: Attempt, task: StageTask, future: asyncio.Future[StageResult]
    ) -> bool:
        """Resolve ``future`` when ``attempt`` has ended or must be given up; True then."""
        if attempt.state == AttemptState.FINISHED and attempt.result is not None:
            if not future.done():
                future.set_result(attempt.result)
            return True
        if attempt.state == AttemptState.LOST:
            _resolve(future, task, TaskState.FAILED, attempt.reason, infrastructure=True)
            return True
        silent_s = time.time() - attempt.heartbeat_at
        if attempt.state == AttemptState.RUNNING and silent_s > self.settings.lease_ttl_s:
            where = f" (stage on agent {attempt.agent})" if attempt.agent else ""
            reason = f"worker {attempt.worker} lost: no heartbeat for {silent_s:.0f} s{where}"
        elif attempt.state == AttemptState.QUEUED and silent_s > self.settings.claim_timeout_s:
            reason = f"no worker took the stage from queue {attempt.queue} in {silent_s:.0f} s"
        else:
            return False
        if await asyncio.to_thread(self.store.mark_lost, attempt.lease, reason):
            _resolve(future, task, TaskState.FAILED, reason, infrastructure=True)
            return True
        return False  # it ended meanwhile: read again

    def _forget(self, task_id: str, future: asyncio.Future[StageResult]) -> None:
        if self._futures.get(task_id) is future:
            del self._futures[task_id]
            self._leases.pop(task_id, None)
            self._tasks.pop(task_id, None)


def _resolve(
    future: asyncio.Future[StageResult],
    task: StageTask,
    status: TaskState,
    message: str,
    *,
    infrastructure: bool = False,
) -> None:
    if not future.done():
        future.set_result(
            StageResult(
                task_id=task.id,
                stage=task.stage,
                status=status,
                message=message,
                failure="infrastructure" if infrastructure else None,
            )
        )


def celery_executor(settings: Settings, envs: EnvManagers) -> ExecutorSetup:
    """The ``celery`` executor kind: stages through the job queue (``WorkerSettings`` from
    the environment); the scheduler's pool only bounds how many are out at once."""
    worker_settings = WorkerSettings()
    del settings, envs  # placement and environments are the agents'
    resources = ResourceManager(gpu_count=REMOTE_GPUS, cpu_slots=worker_settings.max_in_flight)
    return ExecutorSetup(CeleryExecutor(worker_settings), resources)
