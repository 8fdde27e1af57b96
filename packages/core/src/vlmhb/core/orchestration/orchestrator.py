"""The orchestrator: plan an experiment, write run specs, schedule its stages, keep the
manifests up to date. ``vlmhb run`` and the orchestrator service drive it.

``cancel()`` (from ``vlmhb run``'s SIGINT/SIGTERM, or an API cancel) stops the experiment
through ``Scheduler.cancel``: running stages get SIGTERM, then SIGKILL after
``Settings.stop_grace_s``; their finished samples stay on disk and the manifests record
them as ``cancelled``. Whatever happens, the executor's ``cleanup`` (the env managers')
runs when ``run`` ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import (
    ExperimentSpec,
    StageResult,
    StageTask,
    TaskState,
    task_log,
)
from vlmhb.core.envs.select import EnvManagers
from vlmhb.core.envs.stage_data import push_stage_outputs
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import RUN_SPEC_FILE
from vlmhb.core.manifest import write_manifest
from vlmhb.core.orchestration.events import EventBus, InProcessEventBus
from vlmhb.core.orchestration.executor import Executor
from vlmhb.core.orchestration.graph import TaskGraph, plan_experiment
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.orchestration.scheduler import Scheduler
from vlmhb.core.registries import get_registries
from vlmhb.core.settings import Settings
from vlmhb.core.storage import StorageError


@dataclass
class ExperimentOutcome:
    graph: TaskGraph
    results: dict[str, StageResult]
    cancelled: bool = False

    @property
    def failed(self) -> list[StageResult]:
        return [r for r in self.results.values() if r.status == TaskState.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed and all(
            r.status in (TaskState.COMPLETED, TaskState.SKIPPED) for r in self.results.values()
        )


class Orchestrator:
    def __init__(
        self,
        spec: ExperimentSpec,
        *,
        settings: Settings | None = None,
        bus: EventBus | None = None,
        executor: Executor | None = None,
        resources: ResourceManager | None = None,
        config_path: Path | None = None,
        force: bool = False,
    ) -> None:
        self.spec = spec
        self.settings = settings or Settings()
        self.bus = bus or InProcessEventBus()
        if executor is None:
            registries = get_registries(spec.registry_dirs)
            setup = registries.executors.get(self.settings.executor)(
                self.settings, EnvManagers(self.settings.env_cache_dir, registries.envs)
            )
            executor, resources = setup.executor, resources or setup.resources
        self.executor = executor
        self.resources = resources or ResourceManager.from_settings(self.settings)
        self.config_path = config_path
        self.force = force
        self._timings: dict[str, dict[str, Any]] = {}
        self._cancelled = False
        self._scheduler: Scheduler | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the experiment (the module docstring); again: without the grace."""
        self._cancelled = True
        if self._scheduler is not None:
            self._scheduler.cancel()

    def plan(self) -> TaskGraph:
        return plan_experiment(self.spec)

    async def run(self, graph: TaskGraph | None = None) -> ExperimentOutcome:
        graph = graph or self.plan()
        try:
            for run in graph.runs:
                run_dir = graph.run_dir(run)
                run_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_text(run_dir / RUN_SPEC_FILE, run.model_dump_json(indent=2))
                write_manifest(run, run_dir, self.config_path, {})
            self._scheduler = Scheduler(
                graph,
                self.executor,
                self.resources,
                self.bus,
                on_finished=self._record,
                force=self.force,
                infra_retries=self.settings.infra_retries,
                infra_retry_backoff_s=self.settings.infra_retry_backoff_s,
            )
            if self._cancelled:
                self._scheduler.cancel()
            results = await self._scheduler.run()
        finally:
            self._scheduler = None
            self.executor.cleanup()
        return ExperimentOutcome(graph, results, cancelled=self._cancelled)

    def _record(self, task: StageTask, result: StageResult) -> None:
        self._record_timings(task, result)
        if task.results_uri and result.status in (TaskState.COMPLETED, TaskState.SKIPPED):
            self._push_results(task)

    def _push_results(self, task: StageTask) -> None:
        """The files the orchestrator writes after a stage (``manifest.json``, the done
        marker) to ``results_uri``, with whatever else changed: before the dependents
        start, so pushes of one run folder never overlap. A skipped stage pushes too (a
        ``results_uri`` added to a finished experiment uploads it; nothing when it is
        there already). A failure is reported, the stage's result stands."""
        try:
            push_stage_outputs(task)
        except StorageError as exc:
            self.bus.publish(task_log(task, f"could not upload the results: {exc}"))

    def _record_timings(self, task: StageTask, result: StageResult) -> None:
        if task.run is None:
            return
        timings = self._timings.setdefault(task.run_dir.name, {})
        timings[task.stage.value] = {
            "status": result.status.value,
            "duration_s": round(result.duration_s, 3),
            "summary": result.summary,
        }
        write_manifest(task.run, task.run_dir, self.config_path, timings)
