"""The Redis event bus against a real Redis: order, topics, a SIGKILLed and restarted
(empty) private ``redis-server``, the consumer cursor; and the publisher's outbox."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

from vlmhb_orchestrator_testkit import free_port, private_redis

from vlmhb.core.contracts import Event, EventType, TaskState
from vlmhb.orchestrator.outbox import Envelope, Outbox
from vlmhb.orchestrator.redis_bus import RedisEventBus


async def test_redis_bus_keeps_order(redis_url: str) -> None:
    topic = f"t-{secrets.token_hex(4)}"
    publisher, subscriber = RedisEventBus(redis_url), RedisEventBus(redis_url)
    got: list[Event] = []
    ready, finished = asyncio.Event(), asyncio.Event()

    def collect(event: Event) -> None:
        got.append(event)
        if len(got) == 500:
            finished.set()

    listener = asyncio.create_task(subscriber.listen(collect, ready, topic=topic))
    await ready.wait()
    for i in range(500):
        publisher.publish(Event(type=EventType.PROGRESS, topic=topic, done=i, total=500))
    publisher.publish(Event(type=EventType.LOG, topic="elsewhere", message="not for us"))
    await publisher.flush()
    await asyncio.wait_for(finished.wait(), 60)
    assert [e.done for e in got] == list(range(500))
    assert await publisher.ping()
    listener.cancel()
    await publisher.aclose()
    await subscriber.aclose()


async def test_bus_delivers_every_event_once_across_a_redis_restart(tmp_path: Path) -> None:
    """Publisher and consumer keep going through SIGKILL + empty restart: every event
    arrives exactly once and in order (resent events are recognised)."""
    with private_redis(free_port(), tmp_path) as redis_server:
        publisher, consumer = RedisEventBus(redis_server.url), RedisEventBus(redis_server.url)
        topic = f"t-{secrets.token_hex(4)}"
        got: list[int] = []
        ready = asyncio.Event()

        def collect(event: Event) -> None:
            got.append(event.done or 0)

        listener = asyncio.create_task(consumer.listen(collect, ready, topic=topic))
        await asyncio.wait_for(ready.wait(), 10)
        total = 600
        for i in range(total):
            publisher.publish(
                Event(type=EventType.STATE, topic=topic, done=i, state=TaskState.RUNNING)
            )
            if i == 200:
                await asyncio.sleep(0.3)
                redis_server.kill()
            if i == 400:
                await asyncio.sleep(1.0)
                assert publisher.pending > 0  # kept while Redis is down
                redis_server.start()
            await asyncio.sleep(0)
        deadline = time.monotonic() + 30
        while publisher.pending and time.monotonic() < deadline:  # reconnects with backoff
            await asyncio.sleep(0.1)
        assert await publisher.flush()
        while len(got) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert got == list(range(total))
        listener.cancel()
        await publisher.aclose()
        await consumer.aclose()


def test_outbox_drops_oldest_progress_never_state() -> None:
    outbox = Outbox(limit=5)
    kinds = [
        EventType.STATE,
        EventType.PROGRESS,
        EventType.PROGRESS,
        EventType.STATE,
        EventType.LOG,
        EventType.STATE,
        EventType.STATE,
        EventType.STATE,
    ]
    for seq, kind in enumerate(kinds, 1):
        outbox.put(Envelope("p", seq, Event(type=kind, topic="x")))
    kept = outbox.peek(10)
    assert [e.seq for e in kept] == [1, 4, 6, 7, 8] and outbox.dropped == 3
    for seq in range(9, 20):
        outbox.put(Envelope("p", seq, Event(type=EventType.STATE, topic="x")))
    assert len(outbox) == 16  # state events are never dropped


async def test_consumer_resumes_from_its_cursor_and_is_ready_after_the_backlog(
    redis_url: str,
) -> None:
    """A named consumer that stops and starts again gets the events published while it
    was away, and ``ready`` is set only once they have been handed to the callback."""
    prefix = f"vlmhb:test-{secrets.token_hex(4)}:"
    publisher = RedisEventBus(redis_url, prefix=prefix)
    publisher.publish(Event(type=EventType.LOG, topic="t", message="before the consumer"))
    assert await publisher.flush()

    got: list[str] = []
    checkpoints: list[int] = []

    async def checkpoint() -> None:
        checkpoints.append(len(got))

    async def run_consumer() -> list[str]:
        consumer = RedisEventBus(redis_url, prefix=prefix)
        ready = asyncio.Event()
        task = asyncio.create_task(
            consumer.listen(
                lambda e: got.append(e.message), ready, consumer="c1", checkpoint=checkpoint
            )
        )
        await asyncio.wait_for(ready.wait(), 10)
        snapshot = list(got)
        task.cancel()
        await consumer.aclose()
        return snapshot

    assert await run_consumer() == []  # a new consumer starts at the end of the stream
    for i in range(3):  # published while no consumer runs
        publisher.publish(Event(type=EventType.LOG, topic="t", message=f"away {i}"))
    assert await publisher.flush()
    assert await run_consumer() == ["away 0", "away 1", "away 2"]  # ready after the backlog
    assert checkpoints[-1] == 3  # the cursor moved after the checkpoint
    got.clear()
    assert await run_consumer() == []  # nothing twice
    await publisher.aclose()
