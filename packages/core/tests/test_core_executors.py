"""Executor kinds: ``local`` is built in, a kind from the registry supplies both the
executor and the resources the scheduler allocates from (a remote executor is not bound
by this host's GPUs), an unknown kind is a clear error, and infrastructure retries wait a
jittered exponential backoff."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import Event, StageName, StageResult, StageTask, TaskState
from vlmhb.core.envs.base import Emit
from vlmhb.core.envs.select import EnvManagers
from vlmhb.core.orchestration import orchestrator as orchestrator_module
from vlmhb.core.orchestration import scheduler as scheduler_module
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.core.orchestration.executor import LocalExecutor
from vlmhb.core.orchestration.executors import (
    ExecutorFactory,
    ExecutorSetup,
    register_builtin_executors,
)
from vlmhb.core.orchestration.orchestrator import Orchestrator
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.orchestration.scheduler import MAX_RETRY_DELAY_S, retry_delay_s
from vlmhb.core.registries import get_registries
from vlmhb.core.registry import Registry
from vlmhb.core.settings import Settings

from .core_cli_helpers import run_vlmhb

GPU_EXPERIMENT = """\
name: remote
models:
  - name: echo
    backend: scripted
    params: {{rule: echo}}
    resources: {{gpus: 2}}
datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: mini, kind: vqa, metrics: [cer]}}
"""


class PlacingExecutor:
    """A stand-in for a remote executor (no queue here): records what it was given and
    fails the inference stage's first try as the infrastructure would."""

    def __init__(self) -> None:
        self.submitted: list[StageTask] = []

    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        self.submitted.append(task)
        failed = task.stage == StageName.INFERENCE and task.attempt == 0
        result = StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.FAILED if failed else TaskState.COMPLETED,
            message="agent unreachable" if failed else "",
            failure="infrastructure" if failed else None,
        )
        future: asyncio.Future[StageResult] = asyncio.get_running_loop().create_future()
        future.set_result(result)
        return future

    def cancel(self, task_id: str) -> None:
        raise AssertionError("nothing is cancelled here")

    def cleanup(self) -> None:
        self.cleaned = True


def test_local_is_built_in_and_the_default() -> None:
    registries = get_registries()
    assert "local" in registries.executors.names()
    assert Settings().executor == "local"
    setup = registries.executors.get("local")(
        Settings(gpus=0), EnvManagers(Path("."), registries.envs)
    )
    assert isinstance(setup.executor, LocalExecutor)
    assert setup.resources.snapshot()["gpus"] == 0


def test_the_executor_kind_of_the_settings_places_and_retries(
    tmp_path: Path, vqa_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = PlacingExecutor()
    made: list[Settings] = []

    def placing(settings: Settings, envs: EnvManagers) -> ExecutorSetup:
        made.append(settings)
        return ExecutorSetup(executor, ResourceManager(gpu_count=64, cpu_slots=8))

    kinds: Registry[ExecutorFactory] = Registry("executor")
    register_builtin_executors(kinds)
    kinds.register("placing", placing)
    registries = dataclasses.replace(get_registries(), executors=kinds)
    monkeypatch.setattr(orchestrator_module, "get_registries", lambda dirs=(): registries)
    delays: list[tuple[int, float]] = []
    monkeypatch.setattr(
        scheduler_module, "retry_delay_s", lambda retry, base: delays.append((retry, base)) or 0.0
    )
    config = tmp_path / "exp.yaml"
    config.write_text(GPU_EXPERIMENT.format(data=vqa_dataset), encoding="utf-8")
    spec = load_experiment(config, check=False)
    spec.output_dir = tmp_path / "runs"
    settings = Settings(executor="placing", gpus=0, infra_retries=2, infra_retry_backoff_s=0.5)
    bus = InProcessEventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    outcome = asyncio.run(Orchestrator(spec, settings=settings, bus=bus).run())

    assert made == [settings]
    assert outcome.ok, "a 2-GPU stage runs although this host has no GPU"
    attempts = [(t.stage, t.attempt) for t in executor.submitted]
    assert attempts[:2] == [(StageName.INFERENCE, 0), (StageName.INFERENCE, 1)]
    assert delays == [(1, 0.5)], "one retry, after the configured backoff"
    tries = [
        (e.attempt, e.message.split(":")[0])
        for e in events
        if e.stage == StageName.INFERENCE and e.state == TaskState.RUNNING
    ]
    assert tries == [(0, ""), (1, "retry 1 of 2 after an infrastructure failure")]
    assert executor.cleaned


def test_retry_delays_are_jittered_below_an_exponential_cap() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        retry, base = rng.randint(1, 12), rng.choice([0.0, 0.1, 1.0, 3.0])
        cap = min(MAX_RETRY_DELAY_S, base * 2 ** (retry - 1))
        assert 0.0 <= retry_delay_s(retry, base) <= cap
    spread = [retry_delay_s(3, 1.0) for _ in range(500)]  # cap 4 s
    assert min(spread) < 1.0 and max(spread) > 3.0, "full jitter spreads over the range"


def test_an_unknown_executor_is_a_clear_error(tmp_path: Path, vqa_dataset: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(GPU_EXPERIMENT.format(data=vqa_dataset), encoding="utf-8")
    done = run_vlmhb("run", str(config), "--executor", "locl", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "locl" in done.stderr and "local" in done.stderr
    assert not (tmp_path / "runs").exists(), "nothing ran"


def test_executor_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMHB_EXECUTOR", "celery")
    monkeypatch.setenv("VLMHB_INFRA_RETRY_BACKOFF_S", "2.5")
    settings = Settings()
    assert (settings.executor, settings.infra_retry_backoff_s) == ("celery", 2.5)
