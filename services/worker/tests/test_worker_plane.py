"""The job queue with real processes: agents on two "hosts" (fake GPU ids), ``vlmhb
worker`` subprocesses, Redis or RabbitMQ, the lease store on PostgreSQL, experiments run by
the ``Orchestrator`` through the ``celery`` executor."""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from vlmhb_worker_testkit import AMQP_URL, MakePlane, Plane, experiment

from vlmhb.core.contracts import Event, ExperimentSpec, StageName, TaskState
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.core.orchestration.orchestrator import ExperimentOutcome, Orchestrator
from vlmhb.core.settings import Settings
from vlmhb.worker.executor import CeleryExecutor, celery_executor
from vlmhb.worker.store import LeaseStore

pytestmark = pytest.mark.slow


class Recorder(InProcessEventBus):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Event] = []

    def publish(self, event: Event) -> None:
        self.seen.append(event)
        super().publish(event)


def run_through(
    plane: Plane, spec: ExperimentSpec, bus: Recorder | None = None, during=None
) -> ExperimentOutcome:  # type: ignore[no-untyped-def]
    """Run ``spec`` through the celery executor of ``plane`` (``during(orchestrator)`` in
    a thread while it runs)."""
    settings = Settings(infra_retries=2, infra_retry_backoff_s=0.1)
    setup = celery_executor(settings, None)  # type: ignore[arg-type]
    setup.executor.cleanup()
    executor = CeleryExecutor(plane.settings())
    orchestrator = Orchestrator(
        spec,
        settings=settings,
        bus=bus or Recorder(),
        executor=executor,
        resources=setup.resources,
    )
    if during is not None:
        threading.Thread(target=during, args=(orchestrator,), daemon=True).start()
    try:
        return asyncio.run(orchestrator.run())
    finally:
        executor.cleanup()


def answers(spec: ExperimentSpec) -> list[str]:
    run_dir = next(spec.output_dir.glob("*/*/answers.csv"))
    with run_dir.open(encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle, delimiter=";")]


def requests(spec: ExperimentSpec) -> Counter[str]:
    log = next(spec.output_dir.rglob("requests.log"))
    return Counter(log.read_text(encoding="utf-8").split())


def inference_id(outcome: ExperimentOutcome) -> str:
    return next(t for t, r in outcome.results.items() if r.stage == StageName.INFERENCE)


def test_an_experiment_through_the_queue_gives_the_local_metrics(
    make_plane: MakePlane, dataset: Path
) -> None:
    plane = make_plane()
    plane.agent("gpu-host", gpus="0")
    plane.agent("cpu-host")
    plane.worker()
    bus = Recorder()
    remote = experiment(plane.folder / "remote", dataset, "same")
    outcome = run_through(plane, remote, bus)
    assert outcome.ok, outcome
    local = experiment(plane.folder / "local", dataset, "same")
    assert asyncio.run(Orchestrator(local, settings=Settings(), bus=InProcessEventBus()).run()).ok

    def metrics(spec: ExperimentSpec) -> str:
        return next(spec.output_dir.glob("*/*/metrics_by_id.csv")).read_text(encoding="utf-8")

    assert metrics(remote) == metrics(local)
    placed = [e for e in bus.seen if e.host is not None]
    assert {e.stage for e in placed} >= {StageName.INFERENCE, StageName.EVALUATION}
    assert all(e.host in {"gpu-host", "cpu-host"} for e in placed)


def wait_until(probe, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def running_on(plane: Plane, stage_id: str):  # type: ignore[no-untyped-def]
    """The running attempt of ``stage_id`` once it has an agent and events flow."""
    store = LeaseStore(plane.store_url, migrate=False)
    try:
        history = store.history(stage_id)
        current = history[-1] if history else None
        if current is not None and current.agent and current.state == "running":
            return current
        return None
    finally:
        store.close()


def inference_task_id(spec: ExperimentSpec) -> str:
    from vlmhb.core.orchestration.graph import plan_experiment

    return next(t.id for t in plan_experiment(spec) if t.stage == StageName.INFERENCE)


def answered(spec: ExperimentSpec, at_least: int) -> bool:
    files = list(spec.output_dir.glob("*/*/answers.csv"))
    return bool(files) and len(files[0].read_text(encoding="utf-8").splitlines()) > at_least


def test_a_killed_worker_s_stage_completes_via_the_other_worker(
    make_plane: MakePlane, dataset: Path
) -> None:
    plane = make_plane()
    plane.agent("host-a")
    plane.agent("host-b")
    first, second = plane.worker(), plane.worker()
    spec = experiment(plane.folder, dataset, "wkill", latency_ms=400)
    stage_id = inference_task_id(spec)

    def kill_its_worker(_: Orchestrator) -> None:
        attempt = wait_until(lambda: running_on(plane, stage_id))
        wait_until(lambda: answered(spec, 3))
        holder = next(w for w in (first, second) if str(w.process.pid) in attempt.worker)
        holder.kill()

    outcome = run_through(plane, spec, during=kill_its_worker)
    assert outcome.ok, outcome
    ids = answers(spec)
    assert len(ids) == len(set(ids)), "no sample answered twice"
    asked = requests(spec)
    assert max(asked.values()) <= 2, "at most the requests in flight at the kill are asked again"
    assert sum(asked.values()) <= len(ids) + 1, "finished samples were not asked again"
    store = LeaseStore(plane.store_url, migrate=False)
    history = store.history(stage_id)
    store.close()
    assert [a.state for a in history] == ["lost", "finished"]
    assert "no heartbeat" in history[0].reason and history[0].agent in history[0].reason


def test_a_visibility_timeout_shorter_than_the_stage_runs_it_once(
    make_plane: MakePlane, dataset: Path
) -> None:
    plane = make_plane(VLMHB_VISIBILITY_TIMEOUT_S="2")
    plane.agent("host-a")
    plane.worker(), plane.worker()
    spec = experiment(plane.folder, dataset, "vis", latency_ms=500)
    outcome = run_through(plane, spec)
    assert outcome.ok, outcome
    stage_id = inference_id(outcome)
    store = LeaseStore(plane.store_url, migrate=False)
    # the redelivered copy may be refused after the experiment ended (a worker that had
    # prefetched it while busy takes it up then): wait for that refusal
    deadline = time.monotonic() + 60
    while store.history(stage_id)[0].refused < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    history = store.history(stage_id)
    store.close()
    assert len(history) == 1 and history[0].claims == 1, "one attempt, claimed once"
    assert history[0].refused >= 1, "the broker did redeliver it (and it was dropped)"
    ids = answers(spec)
    assert len(ids) == len(set(ids)) and set(requests(spec).values()) == {1}


def test_a_killed_agent_s_stage_is_retried_on_the_other_host(
    make_plane: MakePlane, dataset: Path
) -> None:
    plane = make_plane()
    plane.agent("host-a")
    plane.agent("host-b")
    plane.worker()
    spec = experiment(plane.folder, dataset, "akill", latency_ms=400)
    stage_id = inference_task_id(spec)
    killed: list[str] = []

    def kill_its_agent(_: Orchestrator) -> None:
        attempt = wait_until(lambda: running_on(plane, stage_id))
        wait_until(lambda: answered(spec, 2))
        plane.agents[attempt.agent].process.kill()
        killed.append(attempt.agent)

    outcome = run_through(plane, spec, during=kill_its_agent)
    assert outcome.ok, outcome
    store = LeaseStore(plane.store_url, migrate=False)
    history = store.history(stage_id)
    store.close()
    assert len(history) == 2 and history[0].agent == killed[0] != history[1].agent
    assert killed[0] in history[0].reason and history[0].result.failure == "infrastructure"
    ids = answers(spec)
    assert len(ids) == len(set(ids))


def test_cancel_stops_the_stage_on_its_agent_within_5_s(
    make_plane: MakePlane, dataset: Path
) -> None:
    plane = make_plane(AMQP_URL)
    agent = plane.agent("host-a")
    plane.worker()
    spec = experiment(plane.folder, dataset, "cancel", latency_ms=60_000)
    stage_id = inference_task_id(spec)
    took: list[float] = []

    def cancel(orchestrator: Orchestrator) -> None:
        wait_until(lambda: running_on(plane, stage_id))
        time.sleep(1.0)
        client = agent.client()
        started = time.monotonic()
        orchestrator.cancel()
        wait_until(lambda: client.stage(stage_id).state == "finished", 10)
        took.append(time.monotonic() - started)

    outcome = run_through(plane, spec, during=cancel)
    assert outcome.cancelled or any(
        r.status == TaskState.CANCELLED for r in outcome.results.values()
    )
    assert took and took[0] < 5.0, took


def test_a_gpu_stage_never_lands_on_the_agent_without_gpus(
    make_plane: MakePlane, dataset: Path
) -> None:
    plane = make_plane(AMQP_URL)
    plane.agent("no-gpu")
    plane.agent("one-gpu", gpus="7")
    plane.worker()
    spec = experiment(plane.folder, dataset, "gpu", extra=", resources: {gpus: 1}")
    outcome = run_through(plane, spec)
    assert outcome.ok, outcome
    store = LeaseStore(plane.store_url, migrate=False)
    history = store.history(inference_id(outcome))
    store.close()
    assert [(a.agent, a.gpu_ids, a.queue) for a in history] == [
        ("one-gpu", ["7"], plane.prefix + "gpu")
    ]
