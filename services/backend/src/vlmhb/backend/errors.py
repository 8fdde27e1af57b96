"""What the layers below the routes raise; the routes (``api/``) turn them into HTTP."""

from __future__ import annotations


class NotFound(LookupError):
    """An experiment, run or file that does not exist (404)."""


class Conflict(Exception):
    """The action clashes with the experiment's current state (409)."""


class Unavailable(Exception):
    """The orchestrator service cannot be reached (503)."""
