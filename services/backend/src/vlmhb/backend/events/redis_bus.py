"""``EventBus`` over Redis pub/sub (redis-py asyncio).

Channel per topic: ``<prefix><topic>``. ``publish`` is synchronous (the core contract) and
must be called from the running event loop: events go into an ordered queue that one
sender task writes to Redis, so per-publisher order is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

from vlmhb.core.contracts import Event

DEFAULT_PREFIX = "vlmhb:events:"


class RedisEventBus:
    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.from_url(url)
        self._outbox: asyncio.Queue[Event] | None = None
        self._sender: asyncio.Task[None] | None = None

    def publish(self, event: Event) -> None:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        self._outbox.put_nowait(event)

    async def _send_loop(self) -> None:
        assert self._outbox is not None
        while True:
            event = await self._outbox.get()
            try:
                await self.client.publish(self.prefix + event.topic, event.model_dump_json())
            finally:
                self._outbox.task_done()

    async def flush(self) -> None:
        """Wait until every published event has been handed to Redis."""
        if self._outbox is not None:
            await self._outbox.join()

    async def subscribe(self, topic: str = "*") -> AsyncIterator[Event]:
        async for event in self._listen(topic, None):
            yield event

    async def listen(self, callback: Callable[[Event], Awaitable[None] | None],
                     ready: asyncio.Event | None = None, topic: str = "*") -> None:
        """Call ``callback`` for every event until cancelled; ``ready`` is set once the
        subscription is confirmed by Redis (events published after that are not missed)."""
        async for event in self._listen(topic, ready):
            result = callback(event)
            if result is not None:
                await result

    async def _listen(self, topic: str, ready: asyncio.Event | None) -> AsyncIterator[Event]:
        pubsub = self.client.pubsub()
        try:
            if topic == "*":
                await pubsub.psubscribe(self.prefix + "*")
            else:
                await pubsub.subscribe(self.prefix + topic)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] in ("subscribe", "psubscribe"):
                    if ready is not None:
                        ready.set()
                    continue
                if message["type"] not in ("message", "pmessage"):
                    continue
                try:
                    yield Event.model_validate_json(message["data"])
                except ValueError:
                    continue
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self.client.aclose()
