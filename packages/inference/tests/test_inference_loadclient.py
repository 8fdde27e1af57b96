"""The load client against a scripted OpenAI-compatible ASGI server on 127.0.0.1:
timings (TTFT, ITL, TPOT from usage), queue time, error types, arrivals, warm-up and
AIMD concurrency counted on the server side."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from vlmhb.core.contracts import GenerationParams, PreparedSample
from vlmhb.inference.bench import LoadConfig, arrival_offsets, run_load
from vlmhb.inference.client import InferenceClient
from vlmhb.inference.launcher import free_port
from vlmhb.inference.limiter import ConcurrencyLimiter

Send = Any
Receive = Any


class FakeOpenAI:
    """Raw ASGI chat-completions server with injected delays and an overload threshold.

    Streams ``tokens`` content chunks (``ttft_s`` before the first, ``itl_s`` between the
    rest) and reports ``usage_tokens`` completion tokens (default ``tokens``). Above
    ``limit`` requests in flight it answers 429 after ``reject_s``. ``seen_in_flight`` holds, per
    request, how many requests were in flight when it arrived (itself included); ``peers``
    the client addresses (one per connection). With ``break_after`` a streamed reply is cut
    (the connection dropped) after that many chunks."""

    def __init__(
        self,
        ttft_s: float = 0.0,
        itl_s: float = 0.0,
        tokens: int = 3,
        usage_tokens: int | None = None,
        limit: int | None = None,
        hold_s: float = 0.0,
        reject_s: float = 0.0,
        break_after: int | None = None,
    ) -> None:
        self.ttft_s, self.itl_s, self.tokens = ttft_s, itl_s, tokens
        self.usage_tokens = tokens if usage_tokens is None else usage_tokens
        self.limit, self.hold_s, self.reject_s = limit, hold_s, reject_s
        self.in_flight = 0
        self.seen_in_flight: list[int] = []
        self.rejected = 0
        self.served = 0
        self.break_after = break_after
        self.peers: set[tuple[str, int]] = set()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.peers.add(tuple(scope["client"]))
        self.in_flight += 1
        self.seen_in_flight.append(self.in_flight)
        try:
            if self.limit is not None and self.in_flight > self.limit:
                self.rejected += 1
                await asyncio.sleep(self.reject_s)
                await self._json(send, 429, {"error": {"message": "overloaded"}})
                return
            await self._reply(send, json.loads(body))
            self.served += 1
        finally:
            self.in_flight -= 1

    @staticmethod
    async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    async def _reply(self, send: Send, request: dict[str, Any]) -> None:
        usage = {"prompt_tokens": 11, "completion_tokens": self.usage_tokens}
        await asyncio.sleep(self.hold_s)
        if not request.get("stream"):
            await asyncio.sleep(self.ttft_s + self.itl_s * (self.tokens - 1))
            await self._json(
                send,
                200,
                {
                    "choices": [{"message": {"role": "assistant", "content": "t" * self.tokens}}],
                    "usage": usage,
                },
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await asyncio.sleep(self.ttft_s)
        for index in range(self.tokens):
            if index == self.break_after:
                raise ConnectionAbortedError("cut mid-stream")  # uvicorn drops the connection
            if index:
                await asyncio.sleep(self.itl_s)
            chunk = {"choices": [{"index": 0, "delta": {"content": "t"}}]}
            await send(
                {
                    "type": "http.response.body",
                    "more_body": True,
                    "body": f"data: {json.dumps(chunk)}\n\n".encode(),
                }
            )
        tail = f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail.encode()})


@contextmanager
def running(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread; yields the ``/v1`` base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("test server died during startup")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join()


def sample(index: int = 0) -> PreparedSample:
    return PreparedSample(id=str(index), user_prompt="hello")


def make_client(
    url: str,
    concurrency: int = 4,
    adaptive: bool = False,
    keep_itl: bool = False,
    **generation: Any,
) -> InferenceClient:
    return InferenceClient(
        url,
        "fake",
        GenerationParams(**generation),
        concurrency=concurrency,
        backoff_s=0.001,
        max_backoff_s=0.004,
        adaptive=adaptive,
        keep_itl=keep_itl,
    )


async def test_stream_timings_use_server_usage_and_record_itl() -> None:
    fake = FakeOpenAI(ttft_s=0.05, itl_s=0.01, tokens=5, usage_tokens=9)
    with running(fake) as url:
        async with make_client(url, keep_itl=True) as client:
            result = await client.infer(sample())
    assert result.error == "" and result.model_answer == "ttttt"
    assert (result.prompt_tokens, result.completion_tokens) == (11, 9)  # usage, not chunks
    assert result.ttft_ms is not None and result.latency_ms is not None
    assert 50 <= result.ttft_ms <= result.latency_ms
    assert result.tpot_ms == pytest.approx((result.latency_ms - result.ttft_ms) / 8)
    # one gap between each pair of the 5 chunks; together they fit between the first
    # token and the end (their sizes against the injected delay are a benchmark's job)
    assert len(result.itl_ms) == 4 and min(result.itl_ms) >= 0
    assert sum(result.itl_ms) <= result.latency_ms - result.ttft_ms + 0.01
    assert result.itl_ms_mean == pytest.approx(sum(result.itl_ms) / 4, abs=1e-3)
    assert result.itl_ms_max == pytest.approx(max(result.itl_ms), abs=1e-3)


async def test_one_token_reply_has_no_tpot_and_no_itl() -> None:
    with running(FakeOpenAI(tokens=1)) as url:
        async with make_client(url) as client:
            result = await client.infer(sample())
    assert result.completion_tokens == 1 and result.ttft_ms is not None
    assert result.tpot_ms is None and result.itl_ms_mean is None and result.itl_ms_max is None


async def test_queue_time_is_the_wait_for_a_slot_and_not_latency() -> None:
    with running(FakeOpenAI(hold_s=0.03)) as url:
        async with make_client(url, concurrency=1) as client:
            arrived = time.perf_counter()
            first, second, third = await asyncio.gather(
                *(client.infer(sample(i), arrived=arrived) for i in range(3))
            )
    assert first.latency_ms is not None and second.latency_ms is not None
    # the third waited for both others: at least their latencies, on the client
    assert third.queue_ms >= first.latency_ms + second.latency_ms - 0.01
    assert first.queue_ms < third.queue_ms


async def test_error_types_are_classified() -> None:
    with running(FakeOpenAI(limit=0)) as url:
        async with make_client(url, retries=0) as client:
            overloaded = await client.infer(sample())
    assert overloaded.error_type == "http_429" and overloaded.error.startswith("HTTP 429")
    with running(FakeOpenAI(hold_s=5.0)) as url:
        async with make_client(url, retries=0, timeout_s=0.2) as client:
            slow = await client.infer(sample())
    assert slow.error_type == "timeout" and slow.model_answer == ""
    async with make_client(f"http://127.0.0.1:{free_port()}/v1", retries=1) as client:
        refused = await client.infer(sample())
    assert refused.error_type == "connection" and refused.attempts == 2


async def test_a_stream_cut_mid_reply_is_a_stream_error_and_retried() -> None:
    with running(FakeOpenAI(tokens=3, break_after=1)) as url:
        async with make_client(url, retries=1) as client:
            cut = await client.infer(sample())
    assert cut.error_type == "stream" and cut.attempts == 2 and cut.model_answer == ""


async def test_connections_are_kept_alive_at_most_one_per_slot() -> None:
    fake = FakeOpenAI(hold_s=0.005)
    with running(fake) as url:
        async with make_client(url, concurrency=4) as client:
            results = await asyncio.gather(*(client.infer(sample(i)) for i in range(40)))
    assert all(r.error == "" for r in results) and fake.served == 40
    assert 1 <= len(fake.peers) <= 4  # 40 requests over at most 4 connections


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeOpenAI()  # stands in for the proxy: it answers absolute-form requests itself
    nothing_there = f"http://127.0.0.1:{free_port()}/v1"
    with running(fake) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/v1"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with make_client(nothing_there, retries=0) as client:
            proxied = await client.infer(sample())
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with make_client(nothing_there, retries=0) as client:
            direct = await client.infer(sample())
    assert proxied.error == "" and proxied.model_answer == "ttt" and fake.served == 1
    assert direct.error_type == "connection" and fake.served == 1


async def test_limiter_aimd_halves_once_per_event_and_grows_by_one() -> None:
    limiter = ConcurrencyLimiter(8, adaptive=True)
    permits = [await limiter.acquire() for _ in range(8)]
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()  # the 9th waits
    for permit in permits[:4]:  # a burst of 429s sent under the same limit: one halving
        limiter.overload(permit)
    assert (limiter.limit, limiter.decreases) == (4, 1)
    for _ in range(4):
        limiter.release()
    await asyncio.sleep(0)
    assert limiter.active == 4 and not waiter.done()  # still at the new limit
    limiter.release()
    late = await waiter
    assert limiter.active == 4  # granted under the new limit; its overload halves again
    limiter.overload(late)
    assert limiter.limit == 2
    for _ in range(10):
        limiter.success()
    assert limiter.limit == 8  # +1 per success, capped at the maximum
    fixed = ConcurrencyLimiter(3)
    fixed.overload(await fixed.acquire())
    assert fixed.limit == 3


def median(values: list[int]) -> int:
    return sorted(values)[len(values) // 2]


async def run_against_threshold(adaptive: bool) -> tuple[FakeOpenAI, int, int]:
    fake = FakeOpenAI(limit=4, hold_s=0.01, reject_s=0.005)
    with running(fake) as url:
        async with make_client(url, concurrency=32, adaptive=adaptive, retries=80) as client:
            load = await run_load(client, [sample(i) for i in range(160)], LoadConfig())
    errors = sum(1 for r in load.results if r.error)
    return fake, errors, load.lowest_concurrency


async def test_adaptive_concurrency_backs_off_on_429_counted_by_the_server() -> None:
    adaptive, adaptive_errors, lowest = await run_against_threshold(adaptive=True)
    fixed, fixed_errors, _ = await run_against_threshold(adaptive=False)
    assert adaptive_errors == fixed_errors == 0
    assert adaptive.served == fixed.served == 160
    assert lowest < 32
    after_first_429 = adaptive.seen_in_flight[adaptive.seen_in_flight.index(5) :]
    # after the first overload the server sees about its threshold, not the client max
    assert median(after_first_429) <= 6
    # a fixed limit keeps pushing past the threshold: clearly more in flight and more 429s
    # (the margins hold on a loaded 2-core machine, where the client reaches fewer in flight
    # and so draws fewer 429s: 213 adaptive vs 314 fixed seen under CI load, ~1:2 when quiet)
    assert median(fixed.seen_in_flight) >= median(after_first_429) + 2
    assert adaptive.rejected < fixed.rejected


async def test_warmup_requests_are_sent_but_not_recorded() -> None:
    fake = FakeOpenAI()
    with running(fake) as url:
        async with make_client(url) as client:
            load = await run_load(client, [sample(i) for i in range(6)], LoadConfig(warmup=3))
    assert fake.served == 9
    assert len(load.warmup) == 3 and len(load.results) == 6
    assert sorted(r.id for r in load.results) == [str(i) for i in range(6)]


async def test_request_rate_spreads_arrivals_over_the_wall_clock() -> None:
    config = LoadConfig(request_rate=200.0, arrivals="constant")
    with running(FakeOpenAI()) as url:
        async with make_client(url, concurrency=8) as client:
            load = await run_load(client, [sample(i) for i in range(20)], config)
    assert len(load.results) == 20 and not any(r.error for r in load.results)
    assert load.wall_s >= arrival_offsets(20, config)[-1]  # the last arrival is at 95 ms


def test_arrival_offsets_constant_poisson_and_unlimited() -> None:
    assert arrival_offsets(4, LoadConfig()) == [0.0] * 4
    assert arrival_offsets(4, LoadConfig(request_rate=2, arrivals="constant")) == [
        0.0,
        0.5,
        1.0,
        1.5,
    ]
    poisson = LoadConfig(request_rate=50.0, seed=7)
    offsets = arrival_offsets(20_000, poisson)
    assert offsets == arrival_offsets(20_000, poisson)  # seeded
    assert offsets != arrival_offsets(20_000, LoadConfig(request_rate=50.0, seed=8))
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 50, rel=0.03)
    assert all(gap >= 0 for gap in gaps)
    with pytest.raises(ValueError, match="arrivals"):
        LoadConfig(arrivals="burst")


async def test_stop_cancels_and_keeps_finished_results() -> None:
    flag = threading.Event()
    fake = FakeOpenAI(hold_s=0.02)
    seen: list[str] = []

    def on_result(result: Any) -> None:
        seen.append(result.id)
        if len(seen) == 3:
            flag.set()

    with running(fake) as url:
        async with make_client(url, concurrency=1) as client:
            load = await run_load(
                client,
                [sample(i) for i in range(50)],
                LoadConfig(),
                on_result=on_result,
                stop=flag.is_set,
            )
    assert 3 <= len(load.results) < 50 and [r.id for r in load.results] == seen


async def test_a_failing_on_result_stops_the_load_and_is_raised() -> None:
    fake = FakeOpenAI(hold_s=0.02)

    def on_result(result: Any) -> None:
        raise OSError(28, "No space left on device")

    with running(fake) as url:
        async with make_client(url, concurrency=1) as client:
            with pytest.raises(OSError, match="No space left"):
                await run_load(
                    client, [sample(i) for i in range(50)], LoadConfig(), on_result=on_result
                )
    assert fake.served < 50


async def test_a_cancelled_waiter_already_skipped_by_release_stays_cancelled() -> None:
    limiter = ConcurrencyLimiter(1)
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # it now waits for the slot
    waiting.cancel()
    limiter.release()  # pops the cancelled waiter before that task runs again
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter.active == 0
    await asyncio.wait_for(limiter.acquire(), 1.0)


async def test_a_long_load_keeps_a_bounded_number_of_tasks() -> None:
    """300 samples at concurrency 4 never make 300 tasks: at most twice the concurrency
    exist at once (plus this test's task and aiohttp's body writers)."""
    live: list[int] = []
    with running(FakeOpenAI(hold_s=0.002)) as url:
        async with make_client(url, concurrency=4) as client:
            load = await run_load(
                client,
                [sample(i) for i in range(300)],
                LoadConfig(),
                on_result=lambda _: live.append(len(asyncio.all_tasks())),
            )
    assert len(load.results) == 300 and all(r.error == "" for r in load.results)
    assert sorted(r.id for r in load.results) == sorted(str(i) for i in range(300))
    assert max(live) <= 2 * 4 + 4 + 1, max(live)
