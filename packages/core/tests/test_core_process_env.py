"""The ``process`` env manager with real stage processes: a cancelled ``execute`` stops the
stage gracefully and returns the stage's own CANCELLED result (finished answers kept);
``cleanup`` kills a stage that is still running."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import StageName, StageResult, StageTask, TaskState
from vlmhb.core.envs.process import ProcessEnvManager
from vlmhb.core.orchestration.graph import plan_experiment

SLOW = """\
name: slow
models:
  - {{name: slow, backend: scripted, params: {{rule: echo, latency_ms: {latency}}}, concurrency: 1}}
datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: vqa, dataset: mini, kind: vqa, metrics: [cer]}}
"""


def inference_task(tmp_path: Path, data: Path, latency_ms: int) -> StageTask:
    config = tmp_path / "exp.yaml"
    config.write_text(SLOW.format(data=data, latency=latency_ms), encoding="utf-8")
    spec = load_experiment(config)
    spec.output_dir = tmp_path / "runs"
    return next(t for t in plan_experiment(spec) if t.stage == StageName.INFERENCE)


def stage_process() -> psutil.Process | None:
    for child in psutil.Process().children(recursive=True):
        try:
            if "stage" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


async def wait_for(probe, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


def answered(task: StageTask) -> bool:
    path = task.run_dir / "answers.csv"
    return path.is_file() and len(path.read_text(encoding="utf-8").splitlines()) >= 2


async def test_a_cancelled_execute_returns_the_stages_own_cancelled_result(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    task = inference_task(tmp_path, vqa_dataset, latency_ms=1500)
    manager = ProcessEnvManager(tmp_path / "envs")
    running = asyncio.ensure_future(manager.execute(task, lambda event: None))
    stage = await wait_for(stage_process)
    await wait_for(lambda: answered(task))
    running.cancel()
    result: StageResult = await running  # the cancel is answered with a result
    assert result.status == TaskState.CANCELLED
    assert result.summary["answered"] >= 1 and result.summary["left"] >= 1
    assert not stage.is_running() or stage.status() == psutil.STATUS_ZOMBIE
    assert stage_process() is None


async def test_cleanup_kills_a_stage_that_still_runs(tmp_path: Path, vqa_dataset: Path) -> None:
    task = inference_task(tmp_path, vqa_dataset, latency_ms=60_000)
    manager = ProcessEnvManager(tmp_path / "envs")
    running = asyncio.ensure_future(manager.execute(task, lambda event: None))
    await wait_for(stage_process)
    manager.cleanup()
    result = await asyncio.wait_for(running, 30)
    assert result.status == TaskState.FAILED and "exited with code -9" in result.message
    assert stage_process() is None
