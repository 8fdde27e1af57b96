"""Where stages run: the experiment's ``stages:`` settings reach the evaluation and report
tasks without changing any id, resource limits and the network setting are validated and
keep the ids of configs that leave them alone, one rule picks a container stage's network,
and the scheduler retries an infrastructure failure (not a stage's own) through a test env
registered in the env registry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from vlmhb.core.config import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.contracts import (
    EnvSpec,
    Event,
    EventType,
    ExperimentSpec,
    ModelSpec,
    ResourceSpec,
    StageName,
    StageResult,
    StageTask,
    TaskState,
)
from vlmhb.core.envs.base import Emit
from vlmhb.core.envs.network import stage_network
from vlmhb.core.envs.process import ProcessEnvManager
from vlmhb.core.envs.select import EnvFactory, EnvManagers, register_builtin_envs
from vlmhb.core.errors import ConfigError
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.core.orchestration.executor import LocalExecutor
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.core.orchestration.orchestrator import Orchestrator
from vlmhb.core.registry import Registry
from vlmhb.core.settings import Settings

EXPERIMENT = """\
name: stages
models:
  - name: echo
    backend: scripted
    params: {{rule: echo}}
{model_extra}datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: mini, kind: vqa, metrics: [cer]}}
{stages}"""

STAGES = """\
stages:
  evaluation:
    env: {kind: process, network: none}
    resources: {memory: 512m, cpus: 1.5}
  report:
    env: {kind: process, image: vlmhb/base-cpu}
    resources: {memory: 1G}
"""


def write_config(
    tmp_path: Path, data: Path, stages: str = "", model_extra: str = "", name: str = "exp.yaml"
) -> Path:
    config = tmp_path / name
    config.write_text(
        EXPERIMENT.format(data=data, stages=stages, model_extra=model_extra), encoding="utf-8"
    )
    return config


def load(config: Path, check: bool = True) -> ExperimentSpec:
    spec = load_experiment(config, check=check)
    spec.output_dir = config.parent / "runs"
    return spec


def by_stage(spec: ExperimentSpec) -> dict[StageName, StageTask]:
    return {task.stage: task for task in plan_experiment(spec)}


# --------------------------------------------------------------------------- settings


def test_stage_settings_reach_their_tasks_and_change_no_id(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    plain = plan_experiment(load(write_config(tmp_path, vqa_dataset, name="plain.yaml")))
    staged_spec = load(write_config(tmp_path, vqa_dataset, STAGES))
    staged = plan_experiment(staged_spec)
    assert list(staged.tasks) == list(plain.tasks)  # every stage id the same
    assert [r.run_id for r in staged.runs] == [r.run_id for r in plain.runs]
    tasks = {task.stage: task for task in staged}
    evaluation, report = staged_spec.stages.evaluation, staged_spec.stages.report
    assert tasks[StageName.EVALUATION].env == evaluation.env
    assert tasks[StageName.EVALUATION].resources == ResourceSpec(memory="512m", cpus=1.5)
    assert tasks[StageName.REPORT].env.image == "vlmhb/base-cpu"
    assert tasks[StageName.REPORT].resources.memory == "1g"  # sizes are kept in lower case
    # the experiment report takes the report stage's settings
    assert tasks[StageName.EXPERIMENT_REPORT].env == report.env
    assert tasks[StageName.EXPERIMENT_REPORT].resources == report.resources
    # inference keeps its model's
    assert tasks[StageName.INFERENCE].env == EnvSpec()


def test_defaults_keep_the_ids_and_limits_on_a_model_are_measured(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    def run_id(model_extra: str) -> str:
        spec = load(write_config(tmp_path, vqa_dataset, model_extra=model_extra))
        return plan_experiment(spec).runs[0].run_id

    plain = run_id("")
    explicit = "    env: {kind: process, network: auto}\n    resources: {gpus: 0}\n"
    assert run_id(explicit) == plain
    # on a model, limits change what inference measures: a new run folder
    assert run_id("    resources: {memory: 4g}\n") != plain
    assert run_id("    resources: {cpus: 2}\n") != plain


@pytest.mark.parametrize(
    ("resources", "field", "says"),
    [
        ("{memory: lots}", "models.0.resources.memory", "not a size"),
        ("{memory: 4k}", "models.0.resources.memory", "smallest memory limit"),
        ("{memory: -1g}", "models.0.resources.memory", "not a size"),
        ("{cpus: 0}", "models.0.resources.cpus", "greater than 0"),
        ("{cpus: many}", "models.0.resources.cpus", "valid number"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(
    tmp_path: Path, vqa_dataset: Path, resources: str, field: str, says: str
) -> None:
    config = write_config(tmp_path, vqa_dataset, model_extra=f"    resources: {resources}\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(config)
    assert f"field '{field}'" in str(caught.value) and says in str(caught.value)
    assert str(caught.value).startswith(f"{config}:6")


@pytest.mark.parametrize(
    ("stages", "field", "says"),
    [
        ("stages: {evaluation: {resources: {cpus: -1}}}\n", "stages.evaluation.resources.cpus", ""),
        ("stages: {report: {env: {network: bridge}}}\n", "stages.report.env.network", "'host'"),
        ("stages: {evaluation: {env: {kind: dokcer}}}\n", "stages.evaluation.env.kind", "env"),
        ("stages: {inference: {}}\n", "stages.inference", "Extra inputs"),
    ],
)
def test_bad_stage_settings_are_refused_naming_the_field(
    tmp_path: Path, vqa_dataset: Path, stages: str, field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_experiment(write_config(tmp_path, vqa_dataset, stages))
    assert f"field '{field}'" in str(caught.value) and says in str(caught.value)


def test_a_submitted_config_may_not_pick_a_stage_env(tmp_path: Path, vqa_dataset: Path) -> None:
    """``stages.<stage>.env`` names a program environment: operator-only, as a model's
    ``env`` is; the limits are data."""
    policy = SubmissionPolicy(data_roots=(tmp_path,), output_root=tmp_path / "runs")
    relative = vqa_dataset.relative_to(tmp_path)
    limits = "stages: {evaluation: {resources: {memory: 1g, cpus: 1}}}\n"
    spec = load_experiment(write_config(tmp_path, relative, limits), policy=policy)
    assert spec.stages.evaluation.resources.memory == "1g"
    env = "stages: {report: {env: {kind: process, packages: [evil]}}}\n"
    with pytest.raises(ConfigError) as caught:
        load_experiment(write_config(tmp_path, relative, env), policy=policy)
    assert "field 'stages.report.env': only the server's operator" in str(caught.value)


def test_memory_sizes() -> None:
    assert ResourceSpec(memory="6m").memory == "6m"
    assert ResourceSpec(memory=" 1.5G ").memory == "1.5g"
    assert ResourceSpec(memory="8589934592").memory == "8589934592"  # bytes
    with pytest.raises(ValidationError):
        ResourceSpec(memory="5m")
    with pytest.raises(ValidationError):
        ResourceSpec(memory="4 gb")


def test_stage_network(tmp_path: Path, vqa_dataset: Path) -> None:
    local = by_stage(load(write_config(tmp_path, vqa_dataset)))
    assert {stage: stage_network(task) for stage, task in local.items()} == dict.fromkeys(
        StageName, "none"
    )
    remote_spec = load(
        write_config(tmp_path, vqa_dataset, model_extra="    base_url: http://127.0.0.1:9/v1\n")
    )
    remote = by_stage(remote_spec)
    assert stage_network(remote[StageName.INFERENCE]) == "host"  # reaches a server
    assert stage_network(remote[StageName.EVALUATION]) == "none"
    assert stage_network(remote[StageName.REPORT]) == "none"
    forced = remote[StageName.INFERENCE]
    for mode in ("none", "host"):
        env = forced.env.model_copy(update={"network": mode})
        assert stage_network(forced.model_copy(update={"env": env})) == mode
    evaluation = remote[StageName.EVALUATION]
    assert stage_network(evaluation.model_copy(update={"env": EnvSpec(network="host")})) == "host"


def test_a_model_env_network_setting_is_a_measured_setting() -> None:
    plain = ModelSpec(name="m", backend="scripted")
    assert "env" not in plain.answer_fingerprint()
    assert ModelSpec(
        name="m", backend="scripted", env=EnvSpec(network="host")
    ).answer_fingerprint()["env"] == {"network": "host"}


# --------------------------------------------------------------------------- retries

FLAKY_STAGES = "stages: {evaluation: {env: {kind: flaky}}}\n"


class FlakyEnvManager(ProcessEnvManager):
    """A test double for a container env (no container here): for the attempts listed in
    ``failures`` it reports the failure its engine would (without starting the stage);
    otherwise it runs the stage as the process env does. Records every attempt."""

    failures: ClassVar[dict[int, str]] = {}
    attempts: ClassVar[list[int]] = []

    async def execute(self, task: StageTask, emit: Emit) -> StageResult:
        type(self).attempts.append(task.attempt)
        failure = type(self).failures.get(task.attempt)
        if failure is None:
            return await super().execute(task, emit)
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.FAILED,
            message=f"{failure} failure on attempt {task.attempt}",
            failure="infrastructure" if failure == "engine" else "stage",
        )


def run_flaky(
    tmp_path: Path, vqa_dataset: Path, failures: dict[int, str], retries: int
) -> tuple[dict[str, StageResult], list[Event], list[int]]:
    FlakyEnvManager.failures = failures
    FlakyEnvManager.attempts = []
    registry: Registry[EnvFactory] = Registry("env")
    register_builtin_envs(registry)
    registry.register("flaky", FlakyEnvManager)
    spec = load(write_config(tmp_path, vqa_dataset, FLAKY_STAGES), check=False)
    events: list[Event] = []
    bus = InProcessEventBus()
    bus.add_listener(events.append)
    orchestrator = Orchestrator(
        spec,
        settings=Settings(infra_retries=retries),
        bus=bus,
        executor=LocalExecutor(EnvManagers(tmp_path / "envs", registry)),
    )
    outcome = asyncio.run(orchestrator.run())
    return outcome.results, events, FlakyEnvManager.attempts


def evaluation_of(results: dict[str, StageResult]) -> StageResult:
    return next(r for r in results.values() if r.stage == StageName.EVALUATION)


def retry_messages(events: list[Event]) -> list[str]:
    return [
        e.message
        for e in events
        if e.type == EventType.STATE and e.state == TaskState.RUNNING and e.message
    ]


@pytest.mark.slow
def test_an_infrastructure_failure_is_retried_with_the_attempt_visible(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    results, events, attempts = run_flaky(tmp_path, vqa_dataset, {0: "engine"}, retries=1)
    assert attempts == [0, 1]
    assert evaluation_of(results).status == TaskState.COMPLETED
    assert all(r.status == TaskState.COMPLETED for r in results.values())
    assert retry_messages(events) == [
        "retry 1 of 1 after an infrastructure failure: engine failure on attempt 0"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("failures", "retries", "attempts"),
    [
        ({0: "stage"}, 3, [0]),  # the stage's own failure: never retried
        ({0: "engine", 1: "engine", 2: "engine"}, 2, [0, 1, 2]),  # retries used up
        ({0: "engine"}, 0, [0]),  # VLMHB_INFRA_RETRIES=0: no retry
    ],
    ids=["stage-failure", "retries-used-up", "no-retries"],
)
def test_failures_that_are_not_retried(
    tmp_path: Path, vqa_dataset: Path, failures: dict[int, str], retries: int, attempts: Any
) -> None:
    results, events, seen = run_flaky(tmp_path, vqa_dataset, failures, retries)
    assert seen == attempts
    evaluation = evaluation_of(results)
    assert evaluation.status == TaskState.FAILED
    assert evaluation.message == f"{failures[attempts[-1]]} failure on attempt {attempts[-1]}"
    assert len(retry_messages(events)) == len(attempts) - 1
    ends = [e for e in events if e.stage == StageName.REPORT and e.state == TaskState.CANCELLED]
    assert ends, "the failed evaluation's report is cancelled as before"


def test_infra_retries_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().infra_retries == 1
    monkeypatch.setenv("VLMHB_INFRA_RETRIES", "3")
    assert Settings().infra_retries == 3
