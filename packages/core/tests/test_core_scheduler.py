"""Scheduling: GPU slots bound inference concurrency, CPU stages never wait for a GPU,
finished stages are skipped by content hash, failures cancel only their dependents, a
cancel stops the running stages through the executor and starts nothing more."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import Event, EventType, StageName, StageResult, StageTask, TaskState
from vlmhb.core.envs.base import Emit
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.orchestration.scheduler import Scheduler
from vlmhb.core.settings import Settings

FOUR_GPU_MODELS = """\
name: gpus
models:
{models}
datasets:
  - {{name: mini, format: vqa_csv, path: data/mini}}
tasks:
  - {{name: vqa, dataset: mini, kind: vqa, metrics: [cer]}}
"""


class RecordingExecutor:
    """Runs stages in this process (no real work): records timing and placement.

    A stand-in for the env manager so the test observes only the scheduler's decisions."""

    def __init__(self, durations: dict[StageName, float], fail: set[str] | None = None) -> None:
        self.durations = durations
        self.fail = fail or set()
        self.spans: list[tuple[StageTask, float, float]] = []

    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        return asyncio.ensure_future(self._run(task))

    def cancel(self, task_id: str) -> None:
        raise NotImplementedError

    async def _run(self, task: StageTask) -> StageResult:
        start = time.monotonic()
        await asyncio.sleep(self.durations[task.stage])
        self.spans.append((task, start, time.monotonic()))
        status = TaskState.FAILED if task.run_dir.name in self.fail else TaskState.COMPLETED
        if status == TaskState.COMPLETED:
            (task.run_dir / f"{task.stage.value}.out").parent.mkdir(parents=True, exist_ok=True)
        summary = {"samples": 3} if task.stage == StageName.INFERENCE else {}
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=status,
            summary=summary,
            duration_s=time.monotonic() - start,
        )


def max_overlap(spans: list[tuple[StageTask, float, float]]) -> int:
    events = sorted(
        [(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans], key=lambda x: (x[0], x[1])
    )
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def gpu_experiment(tmp_path: Path, vqa_dataset: Path) -> Path:
    models = "\n".join(
        f"  - {{name: m{i}, backend: scripted, params: {{rule: echo}}, resources: {{gpus: 1}}}}"
        for i in range(4)
    )
    config = tmp_path / "exp.yaml"
    config.write_text(FOUR_GPU_MODELS.format(models=models), encoding="utf-8")
    return config


async def test_two_gpus_four_runs(tmp_path: Path, vqa_dataset: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VLMHB_GPUS", "2")
    spec = load_experiment(gpu_experiment(tmp_path, vqa_dataset))
    spec.output_dir = tmp_path / "runs"
    graph = plan_experiment(spec)
    executor = RecordingExecutor(
        {
            StageName.INFERENCE: 0.3,
            StageName.EVALUATION: 0.05,
            StageName.REPORT: 0.05,
            StageName.EXPERIMENT_REPORT: 0.01,
        }
    )
    resources = ResourceManager.from_settings(Settings())
    assert resources.gpu_count == 2
    results = await Scheduler(graph, executor, resources, InProcessEventBus()).run()
    assert all(r.status == TaskState.COMPLETED for r in results.values())

    inference = [s for s in executor.spans if s[0].stage == StageName.INFERENCE]
    assert len(inference) == 4
    assert max_overlap(inference) == 2
    # overlapping inference stages hold different GPUs
    for a, a_start, a_end in inference:
        assert len(a.gpu_ids) == 1
        for b, b_start, b_end in inference:
            if a is not b and a_start < b_end and b_start < a_end:
                assert a.gpu_ids != b.gpu_ids
    # the first runs' evaluation starts while later inference stages still hold the GPUs
    first_eval_start = min(s for t, s, _ in executor.spans if t.stage == StageName.EVALUATION)
    last_inference_end = max(e for _, _, e in inference)
    assert first_eval_start < last_inference_end
    assert all(not t.gpu_ids for t, _, _ in executor.spans if t.stage != StageName.INFERENCE)


async def test_gpu_ids_reach_the_stage_process(tmp_path: Path, vqa_dataset: Path) -> None:
    """The process env manager starts the real stage entry point with CUDA_VISIBLE_DEVICES."""
    from vlmhb.core.envs.process import ProcessEnvManager

    spec = load_experiment(gpu_experiment(tmp_path, vqa_dataset))
    spec.output_dir = tmp_path / "runs"
    task = next(t for t in plan_experiment(spec) if t.stage == StageName.EVALUATION)
    task = task.model_copy(update={"gpu_ids": [1]})
    events = []
    result = await ProcessEnvManager(tmp_path / "envs").execute(task, events.append)
    started = next(e for e in events if "started" in e.message)
    assert "CUDA_VISIBLE_DEVICES='1'" in started.message
    # no samples.jsonl yet: the stage fails with a message, not a crash of the scheduler
    assert result.status == TaskState.FAILED and result.message


async def test_finished_stages_are_skipped_and_failures_cancel_dependents(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    spec = load_experiment(gpu_experiment(tmp_path, vqa_dataset))
    spec.output_dir = tmp_path / "runs"
    graph = plan_experiment(spec)
    durations = dict.fromkeys(StageName, 0.01)
    failing = graph.run_dir(graph.runs[0]).name
    bus = InProcessEventBus()
    first = await Scheduler(
        graph, RecordingExecutor(durations, {failing}), ResourceManager(4, 2), bus
    ).run()
    by_stage = {(t.run_dir.name, t.stage): first[t.id].status for t in graph if t.id in first}
    assert by_stage[(failing, StageName.INFERENCE)] == TaskState.FAILED
    assert (failing, StageName.EVALUATION) not in by_stage  # cancelled, never ran
    report = next(t for t in graph if t.stage == StageName.EXPERIMENT_REPORT)
    assert first[report.id].status == TaskState.COMPLETED  # still reports the other runs

    second_executor = RecordingExecutor(durations)
    seen: list[Event] = []
    bus.add_listener(seen.append)
    second_started = time.time()
    second = await Scheduler(graph, second_executor, ResourceManager(4, 2), bus).run()
    ran = {(t.run_dir.name, t.stage) for t, _, _ in second_executor.spans}
    assert ran == {
        (failing, StageName.INFERENCE),
        (failing, StageName.EVALUATION),
        (failing, StageName.REPORT),
        (report.run_dir.name, StageName.EXPERIMENT_REPORT),
    }
    skipped = [r for r in second.values() if r.status == TaskState.SKIPPED]
    assert len(skipped) == 9
    # each skipped stage says when its kept outputs were made and how long that took
    skips = [e for e in seen if e.type == EventType.STATE and e.state == TaskState.SKIPPED]
    assert len(skips) == 9
    for event in skips:
        assert event.earlier is not None and event.earlier.finished_at <= second_started
        assert event.earlier.duration_s == first[event.task_id or ""].duration_s > 0
        assert second[event.task_id or ""].duration_s == event.earlier.duration_s
    # skipped inference stages still tell views how many samples they hold
    kept = [e for e in seen if e.type == EventType.PROGRESS and e.stage == StageName.INFERENCE]
    assert len(kept) == 3 and all(e.done == e.total == 3 for e in kept)


class CancellableExecutor(RecordingExecutor):
    """Inference runs until ``cancel`` is called for it; a cancel resolves to CANCELLED."""

    def __init__(self) -> None:
        super().__init__(dict.fromkeys(StageName, 0.01))
        self.cancelled: list[str] = []
        self.started = asyncio.Event()
        self._stops: dict[str, asyncio.Event] = {}

    def submit(self, task: StageTask, emit: Emit) -> asyncio.Future[StageResult]:
        if task.stage != StageName.INFERENCE:
            return super().submit(task, emit)
        return asyncio.ensure_future(self._until_cancelled(task))

    async def _until_cancelled(self, task: StageTask) -> StageResult:
        stop = self._stops[task.id] = asyncio.Event()
        self.started.set()
        await stop.wait()
        return StageResult(task_id=task.id, stage=task.stage, status=TaskState.CANCELLED)

    def cancel(self, task_id: str) -> None:
        self.cancelled.append(task_id)
        self._stops[task_id].set()


async def test_cancel_stops_running_stages_and_starts_nothing_more(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    """Two GPUs, four inference stages: the two running ones are cancelled through the
    executor and recorded; the two waiting for a GPU and every later stage end CANCELLED
    without starting, and ``run`` returns."""
    spec = load_experiment(gpu_experiment(tmp_path, vqa_dataset))
    spec.output_dir = tmp_path / "runs"
    graph = plan_experiment(spec)
    executor = CancellableExecutor()
    recorded: list[StageResult] = []
    scheduler = Scheduler(
        graph,
        executor,
        ResourceManager(2, 2),
        InProcessEventBus(),
        on_finished=lambda task, result: recorded.append(result),
    )
    running = asyncio.ensure_future(scheduler.run())
    await asyncio.wait_for(executor.started.wait(), 10)
    await asyncio.sleep(0.05)
    scheduler.cancel()
    results = await asyncio.wait_for(running, 10)
    inference = [t for t in graph if t.stage == StageName.INFERENCE]
    assert sorted(executor.cancelled) == sorted(t.id for t in inference if t.id in executor._stops)
    assert len(executor.cancelled) == 2 and executor.spans == []  # nothing else started
    assert all(results[t.id].status == TaskState.CANCELLED for t in inference)
    assert len(recorded) == 4  # the manifests learn about every cancelled inference stage
    assert set(scheduler.states.values()) == {TaskState.CANCELLED}
