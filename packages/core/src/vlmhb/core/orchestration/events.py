"""The ``EventBus`` contract and its in-process implementation.

The bus only carries news (state, progress, log lines); state of record lives in files
(and, with the management backend, in its database).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from vlmhb.core.contracts import Event

Listener = Callable[[Event], None]


class EventBus(Protocol):
    def publish(self, event: Event) -> None: ...

    def subscribe(self, topic: str = "*") -> AsyncIterator[Event]: ...


class InProcessEventBus:
    """Fan-out to async subscribers (one queue each) and to synchronous listeners."""

    def __init__(self) -> None:
        self._queues: list[tuple[str, asyncio.Queue[Event]]] = []
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
        for topic, queue in self._queues:
            if topic in ("*", event.topic):
                queue.put_nowait(event)

    async def subscribe(self, topic: str = "*") -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        entry = (topic, queue)
        self._queues.append(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(entry)
