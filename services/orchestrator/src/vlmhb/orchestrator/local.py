"""Run experiments in this process: the core ``Orchestrator`` with the executor kind of the
settings (``VLMHB_EXECUTOR``), one asyncio task per experiment. With the ``local`` executor
this host's GPUs/CPU slots are shared by all experiments; a remote executor (``celery``)
places stages on other hosts itself.

Experiment-level news is published as a core ``Event`` of type ``state`` with no
``task_id``: ``RUNNING`` at the start, then ``COMPLETED``, ``FAILED`` or ``CANCELLED``.
Events carry the experiment id as topic (``TopicBus``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from prometheus_client.registry import Collector

from vlmhb.core.config import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.contracts import Event, EventType, TaskState
from vlmhb.core.orchestration.events import EventBus
from vlmhb.core.orchestration.executors import LOCAL
from vlmhb.core.orchestration.orchestrator import Orchestrator
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.settings import Settings
from vlmhb.orchestrator.metrics import OrchestratorMetrics
from vlmhb.orchestrator.settings import RunnerSettings, submission_policy
from vlmhb.orchestrator.topic import TopicBus


class AlreadyRunning(Exception):
    """The experiment already has an active run in this runner."""


class LocalRunner:
    def __init__(
        self,
        bus: EventBus,
        runs_root: Path,
        settings: Settings | None = None,
        policy: SubmissionPolicy | None = None,
    ) -> None:
        """``policy``: what submitted configs may do (default: from ``VLMHB_*`` settings)."""
        self.bus = bus
        self.runs_root = runs_root
        self.policy = policy or submission_policy(RunnerSettings(runs_dir=runs_root))
        self.settings = settings or Settings()
        self.resources = ResourceManager.from_settings(self.settings)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._orchestrators: dict[str, Orchestrator] = {}
        self.last_state: dict[str, str] = {}
        self._stopping = False
        self.metrics = OrchestratorMetrics()

    def submit(self, experiment_id: str, config_path: Path, force: bool = False) -> None:
        """Start the experiment in the background; returns at once."""
        if self.is_active(experiment_id):
            raise AlreadyRunning(experiment_id)
        self.last_state[experiment_id] = "ACCEPTED"
        task = asyncio.get_running_loop().create_task(
            self._run(experiment_id, config_path, force), name=f"experiment-{experiment_id}"
        )
        self._tasks[experiment_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(experiment_id, None))

    def is_active(self, experiment_id: str) -> bool:
        return experiment_id in self._tasks

    def cancel(self, experiment_id: str) -> bool:
        """Stop the experiment through ``Orchestrator.cancel``: its stage processes get
        SIGTERM, then SIGKILL after ``VLMHB_STOP_GRACE_S`` (asked again: at once); what
        they finished is kept. Before the orchestrator exists, the start is cancelled."""
        task = self._tasks.get(experiment_id)
        if task is None:
            return False
        orchestrator = self._orchestrators.get(experiment_id)
        if orchestrator is None:
            task.cancel()
        else:
            orchestrator.cancel()
        return True

    def _publish(self, experiment_id: str, state: TaskState, message: str = "") -> None:
        self.last_state[experiment_id] = state.value
        if state in (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED):
            self.metrics.ended(state.value)
        self.bus.publish(
            Event(
                type=EventType.STATE,
                topic=experiment_id,
                state=state,
                message=message,
                ts=time.time(),
            )
        )

    async def _run(self, experiment_id: str, config_path: Path, force: bool) -> None:
        self._publish(experiment_id, TaskState.RUNNING)
        try:
            spec = await asyncio.to_thread(load_experiment, config_path, policy=self.policy)
            orchestrator = Orchestrator(
                spec,
                settings=self.settings,
                bus=TopicBus(self.bus, experiment_id),
                resources=self.resources if self.settings.executor == LOCAL else None,
                config_path=config_path,
                force=force,
            )
            self._orchestrators[experiment_id] = orchestrator
            outcome = await orchestrator.run()
        except asyncio.CancelledError:
            if not self._stopping:
                self._publish(experiment_id, TaskState.CANCELLED, "cancelled by request")
            raise
        except Exception as exc:
            self._publish(experiment_id, TaskState.FAILED, f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._orchestrators.pop(experiment_id, None)
        if outcome.cancelled:
            self._publish(experiment_id, TaskState.CANCELLED, "cancelled by request")
        elif outcome.ok:
            self._publish(experiment_id, TaskState.COMPLETED)
        else:
            failed = "; ".join(
                f"{r.stage.value} {r.task_id[:8]}: {r.message[:200]}" for r in outcome.failed
            )
            self._publish(experiment_id, TaskState.FAILED, failed or "some stages did not run")

    def snapshot(self) -> dict[str, int]:
        return {**self.resources.snapshot(), "experiments_running": len(self._tasks)}

    def metric_collectors(self) -> list[Collector]:
        """What this runner adds to a ``/metrics`` registry."""
        return self.metrics.collectors(self.snapshot)

    async def shutdown(self) -> None:
        """Stop every experiment (their stage processes get SIGTERM); no CANCELLED news:
        the backend marks them INTERRUPTED, to be resumed with rerun."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
