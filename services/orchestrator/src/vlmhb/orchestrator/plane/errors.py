"""The plane's errors."""

from __future__ import annotations

from vlmhb.core.errors import VlmhbError


class PlaneError(VlmhbError):
    """The plane could not be brought up or stopped (no engine, no compose, a bad file)."""


class ServiceFailed(PlaneError):
    """A plane service did not become healthy: ``service``, ``reason`` and the last lines
    of its log (``log_tail``)."""

    def __init__(self, service: str, reason: str, log_tail: str) -> None:
        super().__init__(f"plane service '{service}' failed: {reason}")
        self.service = service
        self.reason = reason
        self.log_tail = log_tail
