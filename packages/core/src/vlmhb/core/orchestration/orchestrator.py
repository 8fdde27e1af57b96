"""The orchestrator: plan an experiment, write run specs, schedule its stages, keep the
manifests up to date. ``run_experiment`` is what ``vlmhb run`` calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import ExperimentSpec, StageResult, StageTask, TaskState
from vlmhb.core.envs.select import EnvManagers
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import RUN_SPEC_FILE
from vlmhb.core.manifest import write_manifest
from vlmhb.core.orchestration.events import EventBus, InProcessEventBus
from vlmhb.core.orchestration.executor import Executor, LocalExecutor
from vlmhb.core.orchestration.graph import TaskGraph, plan_experiment
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.orchestration.scheduler import Scheduler
from vlmhb.core.registries import get_registries
from vlmhb.core.settings import Settings


@dataclass
class ExperimentOutcome:
    graph: TaskGraph
    results: dict[str, StageResult]

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
        self.executor = executor or LocalExecutor(
            EnvManagers(self.settings.env_cache_dir, get_registries(spec.registry_dirs).envs)
        )
        self.resources = resources or ResourceManager.from_settings(self.settings)
        self.config_path = config_path
        self.force = force
        self._timings: dict[str, dict[str, Any]] = {}

    def plan(self) -> TaskGraph:
        return plan_experiment(self.spec)

    async def run(self, graph: TaskGraph | None = None) -> ExperimentOutcome:
        graph = graph or self.plan()
        for run in graph.runs:
            run_dir = graph.run_dir(run)
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run_dir / RUN_SPEC_FILE, run.model_dump_json(indent=2))
            write_manifest(run, run_dir, self.config_path, {})
        scheduler = Scheduler(
            graph,
            self.executor,
            self.resources,
            self.bus,
            on_finished=self._record,
            force=self.force,
        )
        results = await scheduler.run()
        return ExperimentOutcome(graph, results)

    def _record(self, task: StageTask, result: StageResult) -> None:
        if task.run is None:
            return
        timings = self._timings.setdefault(task.run_dir.name, {})
        timings[task.stage.value] = {
            "status": result.status.value,
            "duration_s": round(result.duration_s, 3),
            "summary": result.summary,
        }
        write_manifest(task.run, task.run_dir, self.config_path, timings)
