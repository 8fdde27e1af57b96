"""The publisher's side of the Redis bus: numbered envelopes, a bounded outbox, backoff.

Every event a ``RedisEventBus`` publishes gets the bus's random ``publisher`` id and the
next ``seq``; a consumer drops an envelope whose ``seq`` it has already seen, so sending
one twice (a retry, or a resend after a Redis restart) applies it once.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from vlmhb.core.contracts import Event, EventType

DROPPABLE = (EventType.PROGRESS, EventType.LOG)  # superseded by later progress; never state


@dataclass(frozen=True)
class Envelope:
    """One event as a stream entry: ``{"p": publisher, "s": seq, "e": event JSON}``."""

    publisher: str
    seq: int
    event: Event

    def fields(self) -> dict[str, str]:
        return {"p": self.publisher, "s": str(self.seq), "e": self.event.model_dump_json()}

    @property
    def droppable(self) -> bool:
        return self.event.type in DROPPABLE


class Outbox:
    """Events not yet written to Redis, oldest first. Holds at most ``limit`` droppable
    events: past it the oldest progress (then log) event is dropped; state events are
    never dropped."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.dropped = 0
        self._items: deque[Envelope] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, envelope: Envelope) -> None:
        self._items.append(envelope)
        if len(self._items) > self.limit:
            self._drop_one()

    def _drop_one(self) -> None:
        for kind in DROPPABLE:
            for index, item in enumerate(self._items):
                if item.event.type == kind:
                    del self._items[index]
                    self.dropped += 1
                    return

    def peek(self, count: int) -> list[Envelope]:
        return [self._items[i] for i in range(min(count, len(self._items)))]

    def pop(self, count: int) -> None:
        for _ in range(min(count, len(self._items))):
            self._items.popleft()

    def push_front(self, envelopes: Iterable[Envelope]) -> None:
        """Put ``envelopes`` (oldest first) back before everything queued."""
        queued = {e.seq for e in self._items}
        self._items.extendleft(reversed([e for e in envelopes if e.seq not in queued]))


class Backoff:
    """Exponential delays with jitter between ``low`` and ``high`` seconds."""

    def __init__(self, low: float = 0.1, high: float = 2.0) -> None:
        self.low, self.high = low, high
        self._next = low

    def next(self) -> float:
        delay = self._next
        self._next = min(self.high, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.low
