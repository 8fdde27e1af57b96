"""The inference stage: every prepared sample of a run → one row of ``answers.csv``.

Resumable: ids already in ``answers.csv`` are never sent again, a half-written last row
is cut off, each new row is fsynced as soon as its answer arrives. The model server is
started for the stage (or ``ModelSpec.base_url`` is used; on a fresh run it boots while
the samples are prepared) and stopped at the end; before
it stops, its peak RSS is read from ``/metrics`` and, with the session's active wall time
(first request to last answer), added to ``inference_stats.json``.

Load settings come from the model's typed ``load`` (``vlmhb.core.contracts.LoadSpec``):
``request_rate`` (requests/s, default unlimited), ``arrivals`` (``poisson`` |
``constant``), ``seed``, ``warmup`` (requests sent first and not recorded, default 0),
``adaptive_concurrency`` (AIMD on 429/5xx, default true). ``ModelSpec.concurrency`` is the
concurrency limit. Each session's record holds the load it ran under (``session_load``).
"""

from __future__ import annotations

import contextlib
import math
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
from vlmhb.core.files import ANSWERS_FILE, INFERENCE_STATS_FILE, SAMPLES_FILE
from vlmhb.core.prepare import prepare_run_inputs, read_prepared_samples
from vlmhb.core.rundir import AnswersFile, SessionLoad
from vlmhb.core.stages import StageContext
from vlmhb.inference import loop
from vlmhb.inference.bench import (
    LoadConfig,
    LoadRun,
    SessionCheckpoint,
    read_peaks,
    run_load,
)
from vlmhb.inference.client import InferenceClient, RequestResult
from vlmhb.inference.launcher import Endpoint, ServerProcess, model_endpoint, needs_server


def load_prepared(task: StageTask) -> list[PreparedSample]:
    """The run's samples: ``samples.jsonl`` when a previous attempt wrote it (so a resumed
    run sees the same samples), else ``vlmhb.core.prepare.prepare_run_inputs``."""
    run = _run_of(task)
    if (task.run_dir / SAMPLES_FILE).exists():
        return read_prepared_samples(task.run_dir)
    return prepare_run_inputs(run, task.run_dir).samples


def _fresh(task: StageTask, run: RunSpec) -> bool:
    """No answer is kept yet and the model is to be asked: every sample is pending."""
    answers = task.run_dir / ANSWERS_FILE
    return not run.task.only_evaluate and not (answers.exists() and answers.stat().st_size)


def _run_of(task: StageTask) -> RunSpec:
    if task.run is None:
        raise VlmhbError(f"inference task {task.id} has no run spec")
    return task.run


def load_config(run: RunSpec) -> LoadConfig:
    """The ``LoadConfig`` of the model's ``load`` settings (validated with the config)."""
    load = run.model.load
    rate = math.inf if load.request_rate is None else load.request_rate
    return LoadConfig(request_rate=rate, arrivals=load.arrivals, seed=load.seed, warmup=load.warmup)


def session_load(run: RunSpec, pending: int) -> SessionLoad:
    """The load a session sending ``pending`` samples runs under, before it starts: the
    configured concurrency limit capped at ``pending`` (``lowest_concurrency`` starts there
    and follows the adaptive limiter)."""
    load = run.model.load
    effective = max(1, min(run.model.concurrency, pending))
    return SessionLoad(
        concurrency=run.model.concurrency,
        effective_concurrency=effective,
        lowest_concurrency=effective,
        adaptive_concurrency=load.adaptive_concurrency,
        request_rate=load.request_rate,
        arrivals=load.arrivals,
        seed=load.seed,
        warmup=load.warmup,
        stream=run.generation.stream,
    )


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
        run = _run_of(task)
        task.run_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as early:
            server = None
            if _fresh(task, run) and needs_server(run.model):
                server = ServerProcess(run.model, task.run_dir)
                early.callback(server.stop)
                server.launch()  # it boots (about 0.8 s) while the samples are prepared
            return self._run(task, run, ctx, server)

    def _run(
        self, task: StageTask, run: RunSpec, ctx: StageContext, server: ServerProcess | None
    ) -> StageResult:
        started = time.monotonic()
        samples = _unique(load_prepared(task))
        answers = AnswersFile(task.run_dir / ANSWERS_FILE)
        finished = set(answers.recover())
        pending = [s for s in samples if s.id not in finished]
        resumed = len(samples) - len(pending)
        if resumed:
            ctx.log(f"resuming: {resumed} of {len(samples)} samples already answered")
        ctx.progress(resumed, len(samples))
        if pending and run.task.only_evaluate:
            raise VlmhbError(
                f"run {run.label}: only_evaluate is set, so the model is not asked, but "
                f"{len(pending)} of {len(samples)} samples have no row in "
                f"{task.run_dir / ANSWERS_FILE} (first: "
                f"{', '.join(s.id for s in pending[:5])}); put the model's answers there "
                "(columns id;model_answer) or unset only_evaluate"
            )
        config = load_config(run)
        results: list[RequestResult] = []
        outputs = [ANSWERS_FILE]
        active_s: float | None = None
        if pending and not ctx.cancelled.is_set():
            session = SessionCheckpoint(task.run_dir, session_load(run, len(pending)))
            with model_endpoint(run.model, task.run_dir, server) as endpoint, answers:
                ctx.log(f"sending {len(pending)} samples to {endpoint.base_url}")
                load = loop.run(
                    self._infer(
                        run,
                        endpoint,
                        pending,
                        config,
                        answers,
                        ctx,
                        resumed,
                        len(samples),
                        results,
                        session,
                    )
                )
                peaks = read_peaks(endpoint.base_url, endpoint.api_key)
            stats = session.finish(load.wall_s, peaks, load.lowest_concurrency)
            outputs.append(INFERENCE_STATS_FILE)
            active_s = round(load.wall_s, 3)
            ctx.log(
                f"active {load.wall_s:.3f} s this session, {stats.active_s or 0:.3f} s "
                f"in all; server peak RSS {peaks.rss_bytes or 'not reported'}"
            )
        left = len(pending) - len(results)
        status = TaskState.CANCELLED if left else TaskState.COMPLETED
        latencies = [r.latency_ms for r in results if not r.error and r.latency_ms is not None]
        ttfts = [r.ttft_ms for r in results if not r.error and r.ttft_ms is not None]
        wall_s = time.monotonic() - started
        summary = {
            "samples": len(samples),
            "answered": len(results),
            "resumed": resumed,
            "errors": sum(1 for r in results if r.error),
            "left": left,
            "wall_s": round(wall_s, 3),
            "active_s": active_s,
            "latency_ms_mean": round(statistics.fmean(latencies), 3) if latencies else None,
            "ttft_ms_mean": round(statistics.fmean(ttfts), 3) if ttfts else None,
        }
        message = f"{len(results)} answered ({summary['errors']} errors), {resumed} resumed" + (
            f", {left} left (cancelled)" if left else ""
        )
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=status,
            outputs=outputs,
            message=message,
            summary=summary,
            duration_s=wall_s,
        )

    async def _infer(
        self,
        run: RunSpec,
        endpoint: Endpoint,
        pending: list[PreparedSample],
        config: LoadConfig,
        answers: AnswersFile,
        ctx: StageContext,
        done: int,
        total: int,
        results: list[RequestResult],
        session: SessionCheckpoint,
    ) -> LoadRun:
        """Answer ``pending`` under ``config``, appending each result as it arrives (and
        checkpointing the session's record)."""

        async with InferenceClient(
            endpoint.base_url,
            endpoint.model,
            run.generation,
            concurrency=session_load(run, len(pending)).effective_concurrency,
            api_key=endpoint.api_key,
            backoff_s=self.backoff_s,
            adaptive=run.model.load.adaptive_concurrency,
        ) as client:

            def record(result: RequestResult) -> None:
                answers.append(result)
                results.append(result)
                session.add(result, client.limiter.lowest)
                ctx.progress(done + len(results), total)

            return await run_load(
                client, pending, config, on_result=record, stop=ctx.cancelled.is_set
            )
