"""Driving the load client over a list of samples: arrivals, warm-up, wall-clock.

``run_load(client, samples, config)`` sends every sample once. Without a request rate all
requests arrive at the start and wait for a concurrency slot (vLLM's ``--request-rate
inf`` with ``--max-concurrency``); with one, arrival times are Poisson (exponential gaps,
seeded) or evenly spaced. A request's ``queue_ms`` counts from its arrival. Warm-up
requests (the first samples, cycled) run before the clock starts and are left out of the
results. ``wall_s`` runs from the first arrival to the last answer.

Also here: ``read_peaks`` (memory peaks from the server's ``/metrics``) and ``record_session``
(a session's record in the run's ``inference_stats.json``, owned by ``vlmhb.core.rundir``).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from vlmhb.core.contracts import PreparedSample
from vlmhb.core.gcpause import frozen_heap
from vlmhb.core.rundir import InferenceSession, InferenceStats, RunDir, SessionLoad
from vlmhb.inference.client import InferenceClient, RequestResult

ARRIVALS = ("poisson", "constant")
_METRIC_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


@dataclass(frozen=True)
class LoadConfig:
    """How ``run_load`` sends: ``request_rate`` in requests/s (inf = all at once)."""

    request_rate: float = math.inf
    arrivals: str = "poisson"
    seed: int = 0
    warmup: int = 0

    def __post_init__(self) -> None:
        if self.arrivals not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {ARRIVALS}, got {self.arrivals!r}")
        if not self.request_rate > 0:
            raise ValueError(f"request rate must be > 0, got {self.request_rate}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")


@dataclass
class LoadRun:
    """Results in completion order, the wall-clock and the limiter's history."""

    results: list[RequestResult]
    wall_s: float
    warmup: list[RequestResult] = field(default_factory=list)
    lowest_concurrency: int = 0
    concurrency_decreases: int = 0


def arrival_offsets(count: int, config: LoadConfig) -> list[float]:
    """Seconds after the start at which each request arrives (the first at 0)."""
    if math.isinf(config.request_rate):
        return [0.0] * count
    if config.arrivals == "constant":
        return [i / config.request_rate for i in range(count)]
    rng = random.Random(config.seed)
    offsets, now = [], 0.0
    for _ in range(count):
        offsets.append(now)
        now += rng.expovariate(config.request_rate)
    return offsets


class _Sender:
    """The measured requests of one ``run_load``: results as they arrive, the first
    failure, and the cancelling of those in flight once stopped or failed."""

    def __init__(
        self,
        client: InferenceClient,
        samples: Sequence[PreparedSample],
        bodies: Sequence[bytes] | None,
        on_result: Callable[[RequestResult], None] | None,
        stop: Callable[[], bool] | None,
    ) -> None:
        self.client, self.samples, self.bodies = client, samples, bodies
        self.on_result, self.stop = on_result, stop
        self.results: list[RequestResult] = []
        self.failures: list[Exception] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.window = 2 * client.concurrency

    def body(self, index: int) -> bytes | None:
        return self.bodies[index] if self.bodies is not None else None

    def stopped(self) -> bool:
        return self.stop is not None and self.stop()

    def halted(self) -> bool:
        return bool(self.failures) or self.stopped()

    async def warmup(self, count: int) -> list[RequestResult]:
        """``count`` requests (the first samples, cycled), before the clock starts."""
        if not count or not self.samples:
            return []
        n = len(self.samples)
        requests = (
            self.client.infer(self.samples[i % n], body=self.body(i % n)) for i in range(count)
        )
        return list(await asyncio.gather(*requests))

    async def send(self, offsets: Sequence[float]) -> float:
        """Start request ``i`` at ``start + offsets[i]`` unless halted; wait for all of
        them; the start (``time.perf_counter()``). At most ``window`` requests exist at
        once (in flight, backing off or waiting for a slot): 100,000 samples never make
        100,000 tasks; a late start still counts its queue time from its arrival."""
        start = time.perf_counter()
        window = asyncio.Semaphore(self.window)
        for index, offset in enumerate(offsets):
            if not await self._turn(start + offset):
                break
            await window.acquire()
            if self.halted():
                break
            task = asyncio.create_task(self._one(index, start + offset))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            task.add_done_callback(lambda _: window.release())
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return start

    async def watch(self) -> None:
        """Cancel the requests in flight once ``stop()`` says so."""
        while not self.stopped():
            await asyncio.sleep(0.1)
        self._cancel_others()

    async def _turn(self, at: float) -> bool:
        """Wait until ``at``; False when halted before or meanwhile."""
        if self.halted():
            return False
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
            return not self.halted()
        return True

    async def _one(self, index: int, arrived: float) -> None:
        try:
            result = await self.client.infer(
                self.samples[index], arrived=arrived, body=self.body(index)
            )
            self.results.append(result)
            if self.on_result is not None:
                self.on_result(result)
        except Exception as exc:  # e.g. answers.csv cannot be written: stop, then raise
            self.failures.append(exc)
            self._cancel_others()

    def _cancel_others(self) -> None:
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()


async def run_load(
    client: InferenceClient,
    samples: Sequence[PreparedSample],
    config: LoadConfig,
    on_result: Callable[[RequestResult], None] | None = None,
    stop: Callable[[], bool] | None = None,
    bodies: Sequence[bytes] | None = None,
) -> LoadRun:
    """Send ``samples`` per ``config``; ``on_result`` sees each result as it arrives.

    ``stop()`` is polled; once true no request is started and those in flight are
    cancelled (their samples get no result). An exception from ``on_result`` (or the
    client) does the same, then is raised. ``bodies[i]``, when given, is sent for
    ``samples[i]`` instead of a body built when its slot is granted."""
    if bodies is not None and len(bodies) != len(samples):
        raise ValueError(f"{len(bodies)} bodies for {len(samples)} samples")
    sender = _Sender(client, samples, bodies, on_result, stop)
    warm = await sender.warmup(config.warmup)
    watcher = asyncio.create_task(sender.watch()) if stop is not None else None
    try:
        with frozen_heap():  # no walk of the samples (and all else) mid-load
            start = await sender.send(arrival_offsets(len(samples), config))
    finally:
        if watcher is not None:
            watcher.cancel()
    if sender.failures:
        raise sender.failures[0]
    ends = [r.done_at for r in sender.results if r.done_at is not None]
    wall_s = (max(ends) if ends and not sender.stopped() else time.perf_counter()) - start
    return LoadRun(
        sender.results, max(wall_s, 0.0), warm, client.limiter.lowest, client.limiter.decreases
    )


@dataclass(frozen=True)
class ServerPeaks:
    """Memory peaks a server reports on ``/metrics`` (bytes; None when not reported)."""

    rss_bytes: float | None = None
    gpu_bytes: float | None = None


def parse_peaks(text: str) -> ServerPeaks:
    """Peaks from Prometheus text, tolerant of the exact names: RSS = the largest value of
    any metric whose name contains ``peak_rss``; GPU = the sum over devices (labels) of
    any metric whose name contains ``gpu`` and ``peak``."""
    rss: list[float] = []
    gpu: list[float] = []
    for line in text.splitlines():
        match = _METRIC_LINE.match(line.strip())
        if not match:
            continue
        name = match.group(1).lower()
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        if "peak_rss" in name:
            rss.append(value)
        elif "gpu" in name and "peak" in name:
            gpu.append(value)
    return ServerPeaks(max(rss) if rss else None, sum(gpu) if gpu else None)


def metrics_url(base_url: str) -> str:
    """``/metrics`` beside an OpenAI base URL (``.../v1`` → ``.../metrics``)."""
    root = base_url.rstrip("/")
    return (root[:-3] if root.endswith("/v1") else root) + "/metrics"


def read_peaks(base_url: str, api_key: str | None = None, timeout_s: float = 3.0) -> ServerPeaks:
    """The server's memory peaks from its ``/metrics``; empty when it has none."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(metrics_url(base_url), headers=headers, timeout=timeout_s)
    except httpx.HTTPError:
        return ServerPeaks()
    return parse_peaks(response.text) if response.status_code == 200 else ServerPeaks()


def record_session(
    run_dir: Path,
    active_s: float,
    requests: int,
    errors: int,
    peaks: ServerPeaks,
    session: str | None = None,
    complete: bool = True,
    load: SessionLoad | None = None,
) -> InferenceStats:
    """Add one inference session to the run's ``inference_stats.json`` (through
    ``RunDir.record_session``) and return the file's record.

    ``session`` names the session: a later record with the same name replaces the earlier
    one, so a running stage checkpoints itself (``complete=False``) and a killed session
    still counts with what it had answered by its last checkpoint. ``load`` is the load
    the session ran under."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return RunDir(run_dir).record_session(
        InferenceSession(
            session=session,
            finished=now if complete else None,
            checkpoint=now,
            complete=complete,
            active_s=round(active_s, 6),
            requests=requests,
            errors=errors,
            peak_rss_bytes=peaks.rss_bytes,
            peak_gpu_bytes=peaks.gpu_bytes,
            load=load,
        )
    )


class SessionCheckpoint:
    """Keeps this inference session's record in ``inference_stats.json`` up to date while
    it runs (at most every ``every_s`` seconds), so a killed session still counts: its
    requests and active time up to its last checkpoint are summed with the others'.
    ``load`` is the load it runs under; ``add`` and ``finish`` take the lowest concurrency
    limit reached so far (it moves with adaptive concurrency)."""

    def __init__(
        self, run_dir: Path, load: SessionLoad | None = None, every_s: float = 1.0
    ) -> None:
        self.run_dir = run_dir
        self.load = load
        self.every_s = every_s
        self.session = uuid.uuid4().hex[:12]
        self.requests = 0
        self.errors = 0
        self._first: float | None = None
        self._written = -math.inf

    def add(self, result: RequestResult, lowest_concurrency: int | None = None) -> None:
        """Count ``result``; write a checkpoint when the last one is old enough."""
        self._lowest(lowest_concurrency)
        now = time.perf_counter()
        started = result.sent_at if result.sent_at is not None else now
        self._first = started if self._first is None else min(self._first, started)
        self.requests += 1
        self.errors += bool(result.error)
        if now - self._written >= self.every_s:
            self._written = now
            end = result.done_at if result.done_at is not None else now
            record_session(
                self.run_dir,
                end - self._first,
                self.requests,
                self.errors,
                ServerPeaks(),
                self.session,
                complete=False,
                load=self.load,
            )

    def finish(
        self, active_s: float, peaks: ServerPeaks, lowest_concurrency: int | None = None
    ) -> InferenceStats:
        """The session's final record (replacing its checkpoints); the file's totals."""
        self._lowest(lowest_concurrency)
        return record_session(
            self.run_dir,
            active_s,
            self.requests,
            self.errors,
            peaks,
            self.session,
            complete=True,
            load=self.load,
        )

    def _lowest(self, value: int | None) -> None:
        if self.load is not None and value is not None and value < self.load.lowest_concurrency:
            self.load = self.load.model_copy(update={"lowest_concurrency": value})
