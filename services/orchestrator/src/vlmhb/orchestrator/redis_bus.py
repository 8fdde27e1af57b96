"""``EventBus`` over a Redis Stream (redis-py asyncio) that survives Redis restarts.

Every event is one entry of the stream ``<prefix>stream`` (``XADD ... MAXLEN ~``), with
its topic inside; consumers read with ``XREAD BLOCK`` from the last id they processed.

Publisher: ``publish`` is synchronous (the core contract) and must be called from the
running event loop. Events go into a bounded outbox (``outbox.Outbox``) that one sender
task writes in order; while Redis is down it keeps them and retries with backoff. It keeps
the last ``RECENT`` events it wrote too: when the Redis server changed (its ``run_id``; a
restarted Redis without persistence has an empty stream) they are written again, so
entries the consumer had not read before the crash are not lost.

Consumer: reconnects with backoff and resumes from its last id; when the server changed
it reads the new stream from the start. Envelopes carry ``(publisher, seq)`` and a
consumer applies each once, so the resends never duplicate an event. With ``consumer=``
the last id is stored in Redis (``<prefix>cursor:<consumer>``) and a restarted consumer
resumes there. Only the first connection is required: ``listen`` raises when Redis is
unreachable at its first connection. A consumer is ready once it has read what was already
in the stream from its start position on (its backlog), so a caller can apply the backlog
before acting on the state it produced (the backend's startup recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from vlmhb.core.contracts import Event
from vlmhb.orchestrator.outbox import Backoff, Envelope, Outbox

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "vlmhb:events:"
MAXLEN = 100_000  # approximate stream length kept by Redis
BATCH = 500
RECENT = 2_000  # events kept for a resend after a Redis restart
BLOCK_MS = 1_000
SERVER_CHECK_S = 1.0
FLUSH_TIMEOUT_S = 5.0
REDIS_ERRORS = (redis.RedisError, OSError)


def _client(url: str) -> aioredis.Redis:
    """A client without hidden retries (the bus has its own) and bounded waits."""
    return aioredis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=BLOCK_MS / 1000 + 10,
        retry=Retry(NoBackoff(), 0),
    )


def safe_redis_url(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def redis_unreachable(url: str, timeout_s: float = 3.0) -> str | None:
    """None when Redis at ``url`` answers PING, else a one-line reason (for CLI checks)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


class RedisEventBus:
    def __init__(
        self, url: str, prefix: str = DEFAULT_PREFIX, *, outbox_limit: int = 10_000
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.stream = prefix + "stream"
        self.client: aioredis.Redis = _client(url)
        self.publisher = secrets.token_hex(8)
        self._seq = 0
        self._outbox = Outbox(outbox_limit)
        self._recent: deque[Envelope] = deque(maxlen=RECENT)
        self._wake: asyncio.Event | None = None
        self._flushed: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None
        self._server: str | None = None  # run_id of the Redis we last wrote to
        self._checked_at = 0.0
        self.connected = True

    # ----------------------------------------------------------------- publisher
    def publish(self, event: Event) -> None:
        if self._sender is None:
            self._wake, self._flushed = asyncio.Event(), asyncio.Event()
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        assert self._wake is not None and self._flushed is not None
        self._seq += 1
        self._outbox.put(Envelope(self.publisher, self._seq, event))
        self._flushed.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        """Events not yet written to Redis."""
        return len(self._outbox)

    async def _send_loop(self) -> None:
        assert self._wake is not None and self._flushed is not None
        backoff = Backoff()
        while True:
            if not self._outbox:
                self._flushed.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._check_server()
                batch = self._outbox.peek(BATCH)
                async with self.client.pipeline(transaction=False) as pipe:
                    for envelope in batch:
                        pipe.xadd(
                            self.stream,
                            envelope.fields(),  # type: ignore[arg-type]
                            maxlen=MAXLEN,
                            approximate=True,
                        )
                    await pipe.execute()
            except REDIS_ERRORS as exc:
                if self.connected:
                    log.warning(
                        "Redis unreachable (%s); keeping %d event(s), retrying",
                        exc,
                        len(self._outbox),
                    )
                self.connected = False
                self._checked_at = 0.0
                await asyncio.sleep(backoff.next())
                continue
            if not self.connected:
                log.warning("Redis reachable again; sending %d event(s)", len(self._outbox))
            self.connected = True
            backoff.reset()
            self._outbox.pop(len(batch))
            self._recent.extend(batch)

    async def _check_server(self) -> None:
        """After an error or every ``SERVER_CHECK_S``: when Redis is another server than
        the one written to, queue the recent events again (the new stream lacks them)."""
        if time.monotonic() - self._checked_at < SERVER_CHECK_S:
            return
        run_id = await _run_id(self.client)
        self._checked_at = time.monotonic()
        if self._server is not None and run_id != self._server and self._recent:
            log.warning("Redis restarted; sending the last %d event(s) again", len(self._recent))
            self._outbox.push_front(self._recent)
            self._recent.clear()
        self._server = run_id

    async def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait (at most ``timeout_s``) until every published event is in Redis; False at
        once when Redis is down (the events stay in the outbox)."""
        deadline = time.monotonic() + timeout_s
        while self._outbox and self._flushed is not None:
            remaining = deadline - time.monotonic()
            if not self.connected or remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), min(0.1, remaining))
        return True

    # ----------------------------------------------------------------- consumer
    async def subscribe(self, topic: str = "*") -> AsyncIterator[Event]:
        async for event in self._listen(topic, None, None, None):
            yield event

    async def listen(
        self,
        callback: Callable[[Event], Awaitable[None] | None],
        ready: asyncio.Event | None = None,
        topic: str = "*",
        consumer: str | None = None,
        checkpoint: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Call ``callback`` for every event until cancelled.

        ``ready`` is set once the read position is fixed (events published after that are
        not missed) and the entries already in the stream from that position on have been
        handed to ``callback`` (a ``consumer`` resuming from its stored cursor catches up
        first). With ``consumer`` the cursor is stored at start and after each batch, once
        ``checkpoint`` (e.g. "everything handed over is persisted") has returned. Raises
        when Redis is unreachable before the first connection; reconnects after."""
        async for event in self._listen(topic, ready, consumer, checkpoint):
            result = callback(event)
            if result is not None:
                await result

    async def _listen(
        self,
        topic: str,
        ready: asyncio.Event | None,
        consumer: str | None,
        checkpoint: Callable[[], Awaitable[None]] | None,
    ) -> AsyncIterator[Event]:
        cursor_key = f"{self.prefix}cursor:{consumer}" if consumer else None
        client = _client(self.url)
        seen: dict[str, int] = {}
        last_id: str | None = None
        backlog_end = "0-0"  # the newest entry when listening began: ready once past it
        server: str | None = None
        backoff = Backoff()
        try:
            while True:
                try:
                    run_id = await _run_id(client)
                    if last_id is None:
                        last_id = await self._start_id(client, cursor_key, run_id)
                        backlog_end = await self._newest_id(client)
                        if cursor_key:
                            await client.set(cursor_key, f"{run_id} {last_id}")
                    elif run_id != server:
                        log.warning("Redis restarted; reading its event stream from the start")
                        last_id = backlog_end = "0-0"  # the old backlog went with the server
                    server = run_id
                    backoff.reset()
                    _set_when_past(ready, last_id, backlog_end)
                    async for batch in self._read(client, last_id, server):
                        for entry_id, fields in batch:
                            last_id = entry_id
                            event = _accept(fields, seen, topic)
                            if event is not None:
                                yield event
                        if cursor_key:  # the caller has handled the whole batch
                            if checkpoint is not None:
                                await checkpoint()
                            await client.set(cursor_key, f"{server} {last_id}")
                        _set_when_past(ready, last_id, backlog_end)
                    # _read returned: the server changed, loop to re-check it
                except REDIS_ERRORS as exc:
                    if server is None:
                        raise  # never connected
                    log.warning("Redis event stream lost (%s); reconnecting", exc)
                    await asyncio.sleep(backoff.next())
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _newest_id(self, client: aioredis.Redis) -> str:
        newest = await client.xrevrange(self.stream, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def _start_id(self, client: aioredis.Redis, cursor_key: str | None, run_id: str) -> str:
        """Where a new consumer starts: its stored cursor (same server), else the end."""
        if cursor_key:
            stored = await client.get(cursor_key)
            if stored:
                stored_server, _, stored_id = str(stored).partition(" ")
                return stored_id if stored_server == run_id else "0-0"
        return await self._newest_id(client)

    async def _read(
        self, client: aioredis.Redis, after: str, server: str
    ) -> AsyncIterator[list[tuple[str, dict[str, str]]]]:
        """Batches of entries after ``after``; returns when the Redis server is no longer
        ``server`` (checked every ``SERVER_CHECK_S``)."""
        checked = time.monotonic()
        while True:
            response: Any = await client.xread({self.stream: after}, count=BATCH, block=BLOCK_MS)
            for _stream, entries in response or ():
                if entries:
                    after = entries[-1][0]
                    yield entries
            if time.monotonic() - checked >= SERVER_CHECK_S:
                checked = time.monotonic()
                if await _run_id(client) != server:
                    return

    # ----------------------------------------------------------------- misc
    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            if not await self.flush():
                log.warning(
                    "closing with %d event(s) not sent: Redis is unreachable", len(self._outbox)
                )
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        with contextlib.suppress(Exception):
            await self.client.aclose()


async def _run_id(client: aioredis.Redis) -> str:
    info = await client.info("server")
    return str(info.get("run_id", ""))


def _stream_id(entry_id: str) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``) as a comparable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _set_when_past(ready: asyncio.Event | None, last_id: str, backlog_end: str) -> None:
    """Set ``ready`` once the consumer has read up to ``backlog_end``."""
    if ready is not None and _stream_id(last_id) >= _stream_id(backlog_end):
        ready.set()


def _accept(fields: dict[str, str], seen: dict[str, int], topic: str) -> Event | None:
    """The entry's event, or None when malformed, already seen or of another topic."""
    try:
        event = Event.model_validate_json(fields["e"])
        publisher, seq = fields.get("p", ""), int(fields.get("s", "0"))
    except (KeyError, ValueError):
        return None
    if publisher:
        if seq <= seen.get(publisher, 0):
            return None
        seen[publisher] = seq
    if topic != "*" and event.topic != topic:
        return None
    return event
