"""The inference stage: every prepared sample of a run → one row of ``answers.csv``.

Resumable: ids already in ``answers.csv`` are never sent again, a half-written last row
is cut off, each new row is fsynced as soon as its answer arrives. The model server is
started for the stage (or ``ModelSpec.base_url`` is used) and stopped at the end.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from vlmhb.core.contracts import (
    PreparedSample,
    RunSpec,
    StageResult,
    StageTask,
    TaskState,
)
from vlmhb.core.errors import VlmhbError
from vlmhb.core.files import ANSWERS_FILE, SAMPLES_FILE
from vlmhb.core.prepare import prepare_run_inputs, read_prepared_samples
from vlmhb.core.stages import StageContext
from vlmhb.inference import loop
from vlmhb.inference.answers import AnswersFile
from vlmhb.inference.client import InferenceClient, RequestResult
from vlmhb.inference.launcher import Endpoint, model_endpoint


def load_prepared(task: StageTask) -> list[PreparedSample]:
    """The run's samples: ``samples.jsonl`` when a previous attempt wrote it (so a resumed
    run sees the same samples), else ``vlmhb.core.prepare.prepare_run_inputs``."""
    run = _run_of(task)
    if (task.run_dir / SAMPLES_FILE).exists():
        return read_prepared_samples(task.run_dir)
    return prepare_run_inputs(run, task.run_dir).samples


def _run_of(task: StageTask) -> RunSpec:
    if task.run is None:
        raise VlmhbError(f"inference task {task.id} has no run spec")
    return task.run


def _unique(samples: list[PreparedSample]) -> list[PreparedSample]:
    seen: set[str] = set()
    out = []
    for sample in samples:
        if sample.id not in seen:
            seen.add(sample.id)
            out.append(sample)
    return out


class InferenceStage:
    """``Stage`` implementation registered as ``inference``.

    ``backoff_s`` is the first retry delay of the client (doubling per attempt).
    """

    def __init__(self, backoff_s: float = 0.5) -> None:
        self.backoff_s = backoff_s

    def run(self, task: StageTask, ctx: StageContext) -> StageResult:
        started = time.monotonic()
        run = _run_of(task)
        task.run_dir.mkdir(parents=True, exist_ok=True)
        samples = _unique(load_prepared(task))
        answers = AnswersFile(task.run_dir / ANSWERS_FILE)
        finished = set(answers.recover())
        pending = [s for s in samples if s.id not in finished]
        resumed = len(samples) - len(pending)
        if resumed:
            ctx.log(f"resuming: {resumed} of {len(samples)} samples already answered")
        ctx.progress(resumed, len(samples))
        results: list[RequestResult] = []
        if pending and not ctx.cancelled.is_set():
            with model_endpoint(run.model, task.run_dir) as endpoint, answers:
                ctx.log(f"sending {len(pending)} samples to {endpoint.base_url}")
                loop.run(self._infer(run, endpoint, pending, answers, ctx, resumed,
                                        len(samples), results))
        left = len(pending) - len(results)
        status = TaskState.CANCELLED if left else TaskState.COMPLETED
        latencies = [r.latency_ms for r in results if not r.error and r.latency_ms is not None]
        ttfts = [r.ttft_ms for r in results if not r.error and r.ttft_ms is not None]
        wall_s = time.monotonic() - started
        summary = {
            "samples": len(samples), "answered": len(results), "resumed": resumed,
            "errors": sum(1 for r in results if r.error), "left": left,
            "wall_s": round(wall_s, 3),
            "latency_ms_mean": round(statistics.fmean(latencies), 3) if latencies else None,
            "ttft_ms_mean": round(statistics.fmean(ttfts), 3) if ttfts else None,
        }
        message = (f"{len(results)} answered ({summary['errors']} errors), {resumed} resumed"
                   + (f", {left} left (cancelled)" if left else ""))
        return StageResult(task_id=task.id, stage=task.stage, status=status,
                           outputs=[ANSWERS_FILE], message=message, summary=summary,
                           duration_s=wall_s)

    async def _infer(self, run: RunSpec, endpoint: Endpoint, pending: list[PreparedSample],
                     answers: AnswersFile, ctx: StageContext, done: int, total: int,
                     results: list[RequestResult]) -> None:
        """Answer ``pending`` with ``concurrency`` workers, appending each result."""
        queue = list(reversed(pending))
        concurrency = min(run.model.concurrency, len(pending))

        async def worker() -> None:
            while queue and not ctx.cancelled.is_set():
                result = await client.infer(queue.pop())
                answers.append(result)
                results.append(result)
                ctx.progress(done + len(results), total)

        async def watch_cancel(workers: list[asyncio.Task[None]]) -> None:
            while not ctx.cancelled.is_set():
                await asyncio.sleep(0.2)
            for job in workers:
                job.cancel()

        async with InferenceClient(endpoint.base_url, endpoint.model, run.generation,
                                   concurrency=concurrency, api_key=endpoint.api_key,
                                   backoff_s=self.backoff_s) as client:
            workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
            watcher = asyncio.create_task(watch_cancel(workers))
            try:
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                watcher.cancel()
