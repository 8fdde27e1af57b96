"""Heartbeats: the agent's inventory and URL in Redis (``vlmhb:agents:<name>``, JSON,
expiring after three intervals), so workers find the agents that are up. A stopping agent
deletes its key (workers stop picking it at once); a killed one's key expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio

from vlmhb.agent.wire import Heartbeat

KEY_PREFIX = "vlmhb:agents:"
log = logging.getLogger("vlmhb.agent")


def heartbeat_key(name: str) -> str:
    return KEY_PREFIX + name


async def beat_forever(
    redis_url: str, name: str, interval_s: float, heartbeat: Callable[[], Heartbeat]
) -> None:
    """Write ``heartbeat()`` every ``interval_s`` until cancelled, then delete the key; a
    Redis error is logged and retried at the next beat."""
    client = redis.asyncio.Redis.from_url(redis_url)
    key, ttl_ms = heartbeat_key(name), max(1, int(interval_s * 3 * 1000))
    try:
        while True:
            beat = await asyncio.to_thread(heartbeat)
            try:
                await client.set(key, beat.model_dump_json(), px=ttl_ms)
            except redis.RedisError as exc:
                log.warning("heartbeat to Redis failed: %s", exc)
            await asyncio.sleep(interval_s)
    finally:
        with contextlib.suppress(redis.RedisError):
            await client.delete(key)
        await client.aclose()
