"""Helpers for the packages' end-to-end tests: what a completed run folder holds, and
waiting on a running ``vlmhb run``."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
POLL_S = 0.05
# What a run folder holds once inference, evaluation and report completed (written out
# here, not taken from the stages: a test of the stages compares against this list).
COMPLETED_RUN_FILES = (
    "answers.csv",
    "metrics_by_id.csv",
    "metrics_by_doc_question.csv",
    "metrics_by_doc_type.csv",
    "metrics_general.csv",
    "metrics_schema.json",
    "report.md",
    "report.html",
    "manifest.json",
    "samples.jsonl",
    "run.json",
)


def _probe(probe: Callable[[], T | None]) -> T | None:
    """``probe()``, or None while the file it reads is missing or half written."""
    try:
        return probe()
    except (OSError, ValueError):
        return None


def wait_for(
    probe: Callable[[], T | None],
    proc: subprocess.Popen[Any] | None = None,
    timeout_s: float = 60.0,
) -> T:
    """The first truthy ``probe()``; ``AssertionError`` when ``proc`` ends first or after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = _probe(probe)
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"vlmhb run ended early with code {proc.returncode}")
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for the run to make progress")


async def wait_for_async(
    probe: Callable[[], T | None] | Callable[[], Awaitable[T | None]], timeout_s: float = 60.0
) -> T:
    """``wait_for`` inside an event loop (it sleeps without blocking the loop); ``probe``
    may be a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = _probe(probe)
        if inspect.isawaitable(value):
            try:
                value = await value
            except (OSError, ValueError):
                value = None
        if value:
            return value  # type: ignore[return-value]
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout_s:.0f} s")
