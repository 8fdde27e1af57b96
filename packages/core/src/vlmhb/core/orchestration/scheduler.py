"""Run a task graph: dependencies first, resources respected, finished stages skipped.

A stage is skipped when its completion marker holds its id and every stage it depends on
was skipped too (a re-run upstream stage may have changed its inputs). A stage whose
dependency failed is cancelled; the experiment report runs once every
other task has ended, whatever their outcome, so it can list failed runs too.

``cancel()`` stops the experiment: no task starts any more, and each running stage is
stopped through ``Executor.cancel`` (SIGTERM, SIGKILL after the grace); what it finished
is kept and its ``CANCELLED`` result is recorded like any other (``on_finished``), so a
re-run resumes it. ``run()`` then returns normally.

A stage whose env reports an infrastructure failure (``StageResult.failure``: the container
engine failed, the container was killed or ran out of memory) is run again, with the same
resources and ``StageTask.attempt`` counting up, at most ``infra_retries`` times
(``Settings.infra_retries``), after a random wait of up to ``infra_retry_backoff_s`` ×
2^(retry − 1) seconds (exponential backoff with full jitter, capped at a minute, so stages
failed by one outage do not all come back at once); each retry is announced by a
``RUNNING`` state event saying why. A failure of the stage itself is not retried.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from vlmhb.core.contracts import (
    EarlierRun,
    Event,
    EventType,
    StageName,
    StageResult,
    StageTask,
    TaskState,
)
from vlmhb.core.envs.base import Emit
from vlmhb.core.orchestration.events import EventBus
from vlmhb.core.orchestration.executor import Executor
from vlmhb.core.orchestration.graph import TaskGraph
from vlmhb.core.orchestration.markers import earlier_run, is_done, mark_done, read_marker
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.settings import Settings

MAX_RETRY_DELAY_S = 60.0


def retry_delay_s(retry: int, base_s: float) -> float:
    """The wait before retry number ``retry`` (1, 2, ...): full jitter over an exponential."""
    return random.uniform(0, min(MAX_RETRY_DELAY_S, base_s * 2 ** (retry - 1)))


TERMINAL = {TaskState.COMPLETED, TaskState.SKIPPED, TaskState.FAILED, TaskState.CANCELLED}
SUCCESS = {TaskState.COMPLETED, TaskState.SKIPPED}
StageHook = Callable[[StageTask, StageResult], None]


class Scheduler:
    def __init__(
        self,
        graph: TaskGraph,
        executor: Executor,
        resources: ResourceManager,
        bus: EventBus,
        on_finished: StageHook | None = None,
        force: bool = False,
        infra_retries: int | None = None,
        infra_retry_backoff_s: float | None = None,
    ) -> None:
        self.graph = graph
        self.executor = executor
        self.resources = resources
        self.bus = bus
        self.on_finished = on_finished
        self.force = force
        self.infra_retries: int = (
            infra_retries if infra_retries is not None else Settings().infra_retries
        )
        self.infra_retry_backoff_s: float = (
            infra_retry_backoff_s
            if infra_retry_backoff_s is not None
            else Settings().infra_retry_backoff_s
        )
        self.states: dict[str, TaskState] = {t.id: TaskState.PENDING for t in graph}
        self.results: dict[str, StageResult] = {}
        self.cancelled = False
        self._handles: dict[str, asyncio.Task[None]] = {}
        self._submitted: set[str] = set()

    def cancel(self) -> None:
        """Stop the experiment (see the module docstring); calling it again stops the
        running stages without waiting for the grace."""
        self.cancelled = True
        for task_id, handle in list(self._handles.items()):
            if task_id in self._submitted:
                self.executor.cancel(task_id)
            else:  # skipped check, or waiting for resources: nothing runs yet
                handle.cancel()

    def _set(
        self,
        task: StageTask,
        state: TaskState,
        message: str = "",
        attempt: int | None = None,
        earlier: EarlierRun | None = None,
    ) -> None:
        self.states[task.id] = state
        self._publish(
            task,
            type=EventType.STATE,
            state=state,
            message=message,
            attempt=attempt,
            earlier=earlier,
        )

    def _publish(self, task: StageTask, **fields: Any) -> None:
        """An event about ``task`` (its experiment, run folder and stage) stamped now."""
        self.bus.publish(
            Event(
                topic=task.experiment,
                task_id=task.id,
                run=task.run_dir.name,
                stage=task.stage,
                ts=time.time(),
                **fields,
            )
        )

    def _ready(self, task: StageTask) -> bool | None:
        """True: start it; False: wait; None: cancel it (a dependency failed)."""
        deps = [self.states[d] for d in task.depends_on]
        if task.stage == StageName.EXPERIMENT_REPORT:
            return all(s in TERMINAL for s in deps)
        if any(s in {TaskState.FAILED, TaskState.CANCELLED} for s in deps):
            return None
        return all(s in SUCCESS for s in deps)

    async def run(self) -> dict[str, StageResult]:
        for task in self.graph:
            self.resources.check(task.resources.gpus)
            self._set(task, TaskState.PENDING)
        pending = list(self.graph)
        running: set[asyncio.Task[None]] = set()
        try:
            while pending or running:
                for task in list(pending):
                    ready = self._ready(task)
                    if self.cancelled:
                        pending.remove(task)
                        self._set(task, TaskState.CANCELLED, "experiment cancelled")
                    elif ready is None:
                        pending.remove(task)
                        self._set(task, TaskState.CANCELLED, "a stage it depends on failed")
                    elif ready:
                        pending.remove(task)
                        handle = asyncio.ensure_future(self._run_one(task))
                        self._handles[task.id] = handle
                        running.add(handle)
                if not running:
                    if pending:
                        raise RuntimeError(
                            "scheduler stalled: tasks wait on tasks that "
                            "never start: " + ", ".join(t.id for t in pending)
                        )
                    break
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    finished.result()
        except BaseException:
            for handle in running:
                handle.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        return self.results

    def _report_kept_samples(self, task: StageTask, result: StageResult) -> None:
        """A skipped stage that counted samples reports them as done, so views show the
        run complete rather than empty."""
        samples = result.summary.get("samples")
        if isinstance(samples, int) and samples > 0:
            self._publish(task, type=EventType.PROGRESS, done=samples, total=samples)

    async def _run_one(self, task: StageTask) -> None:
        try:
            result = await self._result_of(task)
        except asyncio.CancelledError:
            if not self.cancelled:
                self._set(task, TaskState.CANCELLED, "cancelled")
                raise
            result = StageResult(
                task_id=task.id,
                stage=task.stage,
                status=TaskState.CANCELLED,
                message="experiment cancelled",
            )
        finally:
            self._handles.pop(task.id, None)
        self.results[task.id] = result
        if result.status == TaskState.COMPLETED:
            mark_done(task, result)
        if self.on_finished is not None:
            self.on_finished(task, result)
        earlier = earlier_run(task) if result.status == TaskState.SKIPPED else None
        self._set(task, result.status, result.message, earlier=earlier)

    async def _result_of(self, task: StageTask) -> StageResult:
        """The task's result: from its marker when finished earlier, else by running it."""
        deps_unchanged = all(self.states[d] == TaskState.SKIPPED for d in task.depends_on)
        if not self.force and deps_unchanged and is_done(task):
            marker = read_marker(task)
            result = StageResult(
                task_id=task.id,
                stage=task.stage,
                status=TaskState.SKIPPED,
                message="finished earlier (same content hash)",
                summary=marker.get("summary") or {},
                outputs=marker.get("outputs") or [],
                duration_s=earlier.duration_s if (earlier := earlier_run(task)) else 0.0,
            )
            self._report_kept_samples(task, result)
            return result
        self._set(task, TaskState.QUEUED)
        async with self.resources.allocate(task.resources.gpus) as allocation:
            if self.cancelled:
                raise asyncio.CancelledError
            self._set(task, TaskState.RUNNING, attempt=0)
            attempt = 0
            while True:
                placed = task.model_copy(
                    update={"gpu_ids": list(allocation.gpu_ids), "attempt": attempt}
                )
                result = await self._submit(placed)
                if (
                    result.failure != "infrastructure"
                    or attempt >= self.infra_retries
                    or self.cancelled
                ):
                    return result
                attempt += 1
                self._set(
                    task,
                    TaskState.RUNNING,
                    f"retry {attempt} of {self.infra_retries} after an infrastructure "
                    f"failure: {result.message}",
                    attempt=attempt,
                )
                await asyncio.sleep(retry_delay_s(attempt, self.infra_retry_backoff_s))

    async def _submit(self, task: StageTask) -> StageResult:
        """One try of ``task`` through the executor; an exception is a failed result."""
        emit: Emit = self.bus.publish
        self._submitted.add(task.id)
        try:
            return await self.executor.submit(task, emit)
        except Exception as exc:  # an env that could not be prepared, etc.
            return StageResult(
                task_id=task.id, stage=task.stage, status=TaskState.FAILED, message=str(exc)
            )
        finally:
            self._submitted.discard(task.id)
