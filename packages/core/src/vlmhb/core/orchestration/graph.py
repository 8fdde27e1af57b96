"""Plan an experiment into a graph of stage tasks with content-hash ids.

Per run: ``inference → evaluation → report``; one ``experiment_report`` after all runs.
Ids hash only what changes each stage's output, so editing the metric list re-runs the
evaluation and report but keeps the answers. Inference runs in its model's ``env`` with its
``resources``; evaluation and reports in the experiment's ``stages`` settings (the
experiment report takes ``report``'s), which enter no id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vlmhb.core.contracts import (
    DatasetSpec,
    ExperimentSpec,
    PromptRef,
    RunSpec,
    StageName,
    StageTask,
    stable_hash,
)
from vlmhb.core.errors import ConfigError
from vlmhb.core.fingerprint import spec_fingerprint
from vlmhb.core.prompts import prompt_ref
from vlmhb.core.registries import get_registries
from vlmhb.core.storage import StorageError, join_uri
from vlmhb.core.tasks import fill_task_defaults


@dataclass
class TaskGraph:
    experiment: str
    experiment_dir: Path
    runs: list[RunSpec]
    tasks: dict[str, StageTask] = field(default_factory=dict)

    def add(self, task: StageTask) -> StageTask:
        self.tasks[task.id] = task
        return task

    def __iter__(self) -> Iterator[StageTask]:
        return iter(self.tasks.values())

    def run_dir(self, run: RunSpec) -> Path:
        return self.experiment_dir / run.dir_name


def plan_runs(spec: ExperimentSpec) -> list[RunSpec]:
    """The grid models × tasks × prompt collections (or only ``spec.runs`` pairs)."""
    fill_task_defaults(spec.tasks, get_registries(spec.registry_dirs).tasks)
    datasets = {d.name: d for d in spec.datasets}
    fingerprints = {d.name: _fingerprint(d, i) for i, d in enumerate(spec.datasets)}
    selected = {(s.model, s.task) for s in spec.runs}
    runs = []
    for model in spec.models:
        for task in spec.tasks:
            if selected and (model.name, task.name) not in selected:
                continue
            prompts: list[PromptRef | None] = [prompt_ref(Path(p)) for p in task.prompts]
            prompts = prompts or [None]
            for prompt in prompts:
                runs.append(
                    RunSpec(
                        experiment=spec.name,
                        model=model,
                        task=task,
                        dataset=datasets[task.dataset],
                        prompt=prompt,
                        generation=spec.generation,
                        dataset_fingerprint=fingerprints[task.dataset],
                    )
                )
    return runs


def _fingerprint(dataset: DatasetSpec, index: int) -> str:
    """The dataset's fingerprint; storage that cannot be read is a ``ConfigError`` naming
    the field (the CLI and the API show it without a traceback)."""
    try:
        return spec_fingerprint(dataset)
    except StorageError as exc:
        raise ConfigError(f"datasets.{index}.uri", str(exc)) from None


def plan_experiment(spec: ExperimentSpec) -> TaskGraph:
    experiment_dir = spec.output_dir / spec.name
    graph = TaskGraph(spec.name, experiment_dir, plan_runs(spec))
    report_ids = []
    dirs = list(spec.registry_dirs)  # every stage process resolves names through these
    results = join_uri(spec.results_uri, spec.name) if spec.results_uri else None
    evaluation_settings, report_settings = spec.stages.evaluation, spec.stages.report
    for run in graph.runs:
        run_dir = graph.run_dir(run)
        inference = graph.add(
            StageTask(
                id=stable_hash(StageName.INFERENCE, run.run_id),
                stage=StageName.INFERENCE,
                experiment=spec.name,
                run=run,
                run_dir=run_dir,
                registry_dirs=dirs,
                results_uri=results,
                resources=run.model.resources,
                env=run.model.env,
            )
        )
        evaluation = graph.add(
            StageTask(
                id=stable_hash(
                    StageName.EVALUATION,
                    run.run_id,
                    run.task.metrics,
                    run.task.aggregations,
                    run.task.kind,
                    *run.task.model_dump(
                        include={"metric_columns"}, exclude_defaults=True
                    ).values(),
                ),
                stage=StageName.EVALUATION,
                experiment=spec.name,
                run=run,
                run_dir=run_dir,
                depends_on=[inference.id],
                registry_dirs=dirs,
                results_uri=results,
                resources=evaluation_settings.resources,
                env=evaluation_settings.env,
            )
        )
        report = graph.add(
            StageTask(
                id=stable_hash(StageName.REPORT, evaluation.id),
                stage=StageName.REPORT,
                experiment=spec.name,
                run=run,
                run_dir=run_dir,
                depends_on=[evaluation.id],
                registry_dirs=dirs,
                results_uri=results,
                resources=report_settings.resources,
                env=report_settings.env,
            )
        )
        report_ids.append(report.id)
    graph.add(
        StageTask(
            id=stable_hash(StageName.EXPERIMENT_REPORT, sorted(report_ids)),
            stage=StageName.EXPERIMENT_REPORT,
            experiment=spec.name,
            run_dir=experiment_dir,
            run_dirs=[graph.run_dir(r) for r in graph.runs],
            depends_on=report_ids,
            resources=report_settings.resources,
            env=report_settings.env,
            registry_dirs=dirs,
            results_uri=results,
        )
    )
    return graph
