"""Client-side rate limiting for remote backends: token buckets and a shared pause.

``RateLimiter`` holds a request bucket (``requests_per_s``, capacity ``burst``) and a token
bucket (``tokens_per_min``, capacity ``token_burst``, by default one minute's worth). In any
window of ``T`` seconds it lets at most ``burst + requests_per_s * T`` requests start.
A 429 reply pauses every caller until its ``Retry-After`` has passed.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Refills at ``rate_per_s`` up to ``capacity``; ``take`` waits for enough tokens.

    An amount larger than the capacity is let through once the bucket is full (the level
    then goes negative, so the long-run rate still holds)."""

    def __init__(self, rate_per_s: float, capacity: float) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError(f"rate and capacity must be > 0, got {rate_per_s}, {capacity}")
        self.rate = rate_per_s
        self.capacity = capacity
        self.level = capacity
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
        self._last = now

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` (at most the capacity) is available, then remove it."""
        async with self._lock:  # first come, first served
            need = min(amount, self.capacity)
            while True:
                self._refill()
                if self.level >= need:
                    self.level -= amount
                    return
                await asyncio.sleep((need - self.level) / self.rate)

    def give_back(self, amount: float) -> None:
        """Return ``amount`` (negative: charge more) once the real cost is known."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Request and token budgets of one remote endpoint; either may be absent."""

    def __init__(
        self,
        requests_per_s: float | None = None,
        tokens_per_min: float | None = None,
        burst: float = 1.0,
        token_burst: float | None = None,
    ) -> None:
        self.requests = TokenBucket(requests_per_s, max(burst, 1.0)) if requests_per_s else None
        self.tokens = (
            TokenBucket(tokens_per_min / 60, token_burst or tokens_per_min)
            if tokens_per_min
            else None
        )
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """No request starts for ``seconds`` from now (after a 429 with Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait for the pause to pass and for budget for one request."""
        while (wait := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if self.tokens is not None:
            await self.tokens.take(estimated_tokens)
        if self.requests is not None:
            await self.requests.take(1)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token budget with the real usage of a finished request."""
        if self.tokens is not None:
            self.tokens.give_back(estimated_tokens - actual_tokens)
