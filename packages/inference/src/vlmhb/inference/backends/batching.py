"""Request batching for local-model backends (no torch needed here).

``Batcher`` hands batches of waiting requests (up to ``max_batch_size``, only requests
with the same *key*, e.g. the same sampling mode) to a synchronous ``run_batch(jobs)`` in
one worker thread, one batch at a time. While a batch runs, new requests queue up and form
the next batch. When the previous batch had more than one request (the server is busy), a
batch also waits up to ``window_s`` after its first request for more to arrive; a lone
client (previous batch of one) never waits.

``run_batch`` reports per job from that thread: ``job.deliver(text_delta)`` for streamed
text and ``job.finish(generation)`` at the end. If it raises before any job got text and
the batch had several jobs, each job is retried alone, so one bad request (an image the
processor rejects) fails only itself; otherwise the error goes to every unfinished job.

``RowState`` turns one batch row's generated token ids into text: it decodes
incrementally, stops at EOS, at the first stop string (cut, like OpenAI) or at
``max_tokens``, and emits only text that can no longer change (held back: a trailing
partial UTF-8 character and a tail that may be the start of a stop string).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from vlmhb.inference.backends.base import Generation, GenerationRequest

log = logging.getLogger("vlmhb.inference.batching")


class _Finished:
    """Queue item that ends a job: a ``Generation`` or an exception."""

    def __init__(self, generation: Generation | None, error: BaseException | None) -> None:
        self.generation = generation
        self.error = error


class Job:
    """One request waiting for, or being served by, a batch."""

    def __init__(
        self, request: GenerationRequest, key: Hashable, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.request = request
        self.key = key
        self._loop = loop
        self._queue: asyncio.Queue[str | _Finished] = asyncio.Queue()
        self.delivered = False
        self.finished = False
        self.cancelled = threading.Event()
        self.generation: Generation | None = None

    # --- worker thread side -------------------------------------------------------------
    def deliver(self, text: str) -> None:
        """A streamed text delta (thread-safe)."""
        if text:
            self.delivered = True
            self._loop.call_soon_threadsafe(self._queue.put_nowait, text)

    def finish(self, generation: Generation) -> None:
        """The whole answer (thread-safe); ends the job."""
        self._end(_Finished(generation, None))

    def fail(self, error: BaseException) -> None:
        """End the job with ``error`` (thread-safe)."""
        self._end(_Finished(None, error))

    def _end(self, item: _Finished) -> None:
        if self.finished:
            return
        self.finished = True
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    # --- event loop side -----------------------------------------------------------------
    async def chunks(self) -> AsyncIterator[str]:
        """Text deltas as they come; raises the job's error, if any."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _Finished):
                if item.error is not None:
                    raise item.error
                self.generation = item.generation
                return
            yield item

    async def result(self) -> Generation:
        """Wait for the end and return the whole answer."""
        async for _ in self.chunks():
            pass
        assert self.generation is not None
        return self.generation


RunBatch = Callable[[list[Job]], None]


class Batcher:
    """Collects jobs into batches and runs them one batch at a time in a worker thread."""

    def __init__(
        self, run_batch: RunBatch, max_batch_size: int = 8, window_s: float = 0.005
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.window_s = max(window_s, 0.0)
        self.batch_sizes: Counter[int] = Counter()
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._deferred: deque[Job] = deque()
        self._task: asyncio.Task[None] | None = None
        self._last_size = 0

    def start(self) -> None:
        """Start collecting (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect(), name="batcher")

    def submit(self, request: GenerationRequest, key: Hashable = None) -> Job:
        """Queue ``request``; jobs with different keys never share a batch."""
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        job = Job(request, key, asyncio.get_running_loop())
        self._queue.put_nowait(job)
        return job

    async def close(self) -> None:
        """Stop collecting; queued jobs fail."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending = [*self._deferred]
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for job in pending:
            job.fail(RuntimeError("the backend is shutting down"))

    def stats(self) -> dict[str, Any]:
        """Batch-size telemetry: number of batches, requests, the largest batch, histogram."""
        return {
            "batches": sum(self.batch_sizes.values()),
            "batched_requests": sum(size * n for size, n in self.batch_sizes.items()),
            "largest_batch": max(self.batch_sizes, default=0),
            "batch_sizes": {str(size): n for size, n in sorted(self.batch_sizes.items())},
        }

    async def _next(self, timeout: float | None) -> Job | None:
        if self._deferred:
            return self._deferred.popleft()
        if timeout is None:
            return await self._queue.get()
        if not self._queue.empty():
            return self._queue.get_nowait()
        if timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _gather(self) -> list[Job]:
        """The next batch: the first waiting job plus compatible ones within the window."""
        loop = asyncio.get_running_loop()
        first = await self._next(None)
        assert first is not None
        batch: list[Job] = [first]
        skipped: list[Job] = []
        # a lone client never waits: the window opens only while the server is busy
        deadline = loop.time() + (self.window_s if self._last_size > 1 else 0.0)
        while len(batch) < self.max_batch_size:
            job = await self._next(deadline - loop.time())
            if job is None:
                break
            (batch if job.key == first.key else skipped).append(job)
        self._deferred.extendleft(reversed(skipped))
        return [job for job in batch if not job.cancelled.is_set()]

    async def _collect(self) -> None:
        while True:
            batch = await self._gather()
            self._last_size = len(batch)
            if batch:
                self.batch_sizes[len(batch)] += 1
                await asyncio.to_thread(self._run_safely, batch)

    def _run_safely(self, batch: list[Job]) -> None:
        try:
            self.run_batch(batch)
        except Exception as exc:
            if len(batch) > 1 and not any(job.delivered for job in batch):
                log.warning(
                    "batch of %d failed (%s); retrying its requests one by one", len(batch), exc
                )
                for job in batch:
                    self._run_safely([job])
                return
            log.exception("batch of %d failed", len(batch))
            for job in batch:
                job.fail(exc)
            return
        for job in batch:  # run_batch forgot one: never leave a client waiting
            job.fail(RuntimeError("the batch ended without an answer for this request"))


@dataclass
class RowState:
    """Text of one batch row, built token by token (called from the worker thread)."""

    decode: Callable[[list[int]], str]
    eos_ids: frozenset[int]
    max_tokens: int
    stops: list[str] = field(default_factory=list)
    emit: Callable[[str], None] = lambda _text: None
    cancelled: Callable[[], bool] = lambda: False
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    completion_tokens: int = 0
    finish_reason: str = "length"
    done: bool = False
    _emitted: int = 0

    def __post_init__(self) -> None:
        self.stops = [stop for stop in self.stops if stop]
        self._holdback = max((len(stop) for stop in self.stops), default=1) - 1

    def add(self, token: int) -> bool:
        """Take the next generated token; returns whether this row is finished."""
        if self.done:
            return True
        if self.cancelled():
            self.done, self.finish_reason = True, "cancelled"
            return True
        self.completion_tokens += 1
        if token in self.eos_ids:
            self._finish("stop")
            return True
        self.tokens.append(token)
        self.text = self.decode(self.tokens)
        cut = min((i for i in (self.text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.text = self.text[:cut]
            self._finish("stop")
        elif self.completion_tokens >= self.max_tokens:
            self._finish("length")
        else:
            self._emit_safe()
        return self.done

    def close(self) -> None:
        """Generation ended (e.g. the model's length limit): flush what is left."""
        if not self.done:
            self._finish("length")

    def _finish(self, reason: str) -> None:
        self.done, self.finish_reason = True, reason
        if self.text[self._emitted :]:
            self.emit(self.text[self._emitted :])
        self._emitted = len(self.text)

    def _emit_safe(self) -> None:
        end = len(self.text) - self._holdback
        while end > self._emitted and self.text[end - 1] == "\ufffd":
            end -= 1  # an incomplete multi-byte character: wait for its next bytes
        if end > self._emitted:
            self.emit(self.text[self._emitted : end])
            self._emitted = end
