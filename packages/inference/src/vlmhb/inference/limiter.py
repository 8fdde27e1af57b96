"""Concurrency limit of the load client, optionally adaptive (AIMD).

``ConcurrencyLimiter(maximum, adaptive)`` hands out at most ``limit`` permits at a time
(FIFO). Adaptive: an overload answer (HTTP 429 or 5xx) halves ``limit`` (never below 1),
each success raises it by 1 up to ``maximum``. A burst of overload answers to requests
sent under the same limit counts as one overload event (one halving), like TCP halves
once per round trip; ``Permit.epoch`` tells which limit a request was sent under.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Permit:
    """One acquired slot; ``epoch`` counts the decreases seen when it was granted."""

    epoch: int


class ConcurrencyLimiter:
    """At most ``limit`` holders at once; ``limit`` moves in 1..``maximum``."""

    def __init__(self, maximum: int, adaptive: bool = False) -> None:
        if maximum < 1:
            raise ValueError(f"concurrency must be at least 1, got {maximum}")
        self.maximum = maximum
        self.adaptive = adaptive
        self.limit = maximum
        self.active = 0
        self.epoch = 0
        self.decreases = 0
        self.lowest = maximum
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> Permit:
        """Wait for a slot (first come, first served)."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return Permit(self.epoch)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # granted just as we were cancelled: hand the slot on
                self.active -= 1
                self._wake()
            elif waiter in self._waiters:  # else ``_wake`` already dropped it
                self._waiters.remove(waiter)
            raise
        return Permit(self.epoch)

    def release(self) -> None:
        """Give a slot back and wake waiters the current limit allows."""
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)

    def success(self) -> None:
        """Additive increase: +1 up to ``maximum`` (adaptive only)."""
        if self.adaptive and self.limit < self.maximum:
            self.limit += 1
            self._wake()

    def overload(self, permit: Permit) -> None:
        """Multiplicative decrease: halve once per overload event (adaptive only)."""
        if not self.adaptive or permit.epoch != self.epoch:
            return
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self.epoch += 1
        self.decreases += 1
