"""A running container's output, streamed while it runs.

stdout lines (JSON events of ``vlmhb stage run``, or plain lines) go to a line callback;
stderr lines, each with the engine's timestamp in front (RFC 3339, nanoseconds), are
appended to the stage's log file. Each stream is read by its own thread from the engine's
log API (``follow``: it ends when the container stops); the last stderr lines are kept for
error messages. The env's own lines (container started, exited) go to the same file with the
same kind of timestamp (``note``)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import urllib3

TAIL_LINES = 30
STREAM_ERRORS = (OSError, requests.RequestException, urllib3.exceptions.HTTPError)


class LogPump:
    """Reads ``container``'s stdout into ``on_stdout`` and stderr into ``log_path`` (None:
    kept for ``tail`` only)."""

    def __init__(
        self,
        container: Any,
        on_stdout: Callable[[str], object],
        log_path: Path | None,
        tail_lines: int = TAIL_LINES,
    ) -> None:
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._threads = [
            threading.Thread(
                target=self._pump,
                args=(container.logs(stream=True, follow=True, stdout=True, stderr=False),),
                kwargs={"sink": on_stdout},
                name=f"{container.name}-stdout",
                daemon=True,
            ),
            threading.Thread(
                target=self._pump_stderr,
                args=(
                    container.logs(
                        stream=True, follow=True, stdout=False, stderr=True, timestamps=True
                    ),
                    log_path,
                ),
                name=f"{container.name}-stderr",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, chunks: Iterable[bytes], sink: Callable[[str], object]) -> None:
        for line in _lines(chunks):
            sink(line)

    def _pump_stderr(self, chunks: Iterable[bytes], log_path: Path | None) -> None:
        if log_path is None:
            self._tail.extend(_lines(chunks))
            return
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8") as log:
            for line in _lines(chunks):
                self._tail.append(line)
                log.write(line + "\n")
                log.flush()

    def join(self, timeout_s: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout_s)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def tail(self) -> str:
        """The last stderr lines (with their timestamps)."""
        return "\n".join(self._tail) or "(no output)"


def _lines(chunks: Iterable[bytes]) -> Iterable[str]:
    """Whole lines out of stream chunks (a chunk may hold several lines or part of one)."""
    pending = b""
    try:
        for chunk in chunks:
            pending += chunk
            *whole, pending = pending.split(b"\n")
            for raw in whole:
                yield raw.decode("utf-8", "replace").rstrip("\r")
    except STREAM_ERRORS:  # the engine went away under the stream: what came is kept
        pass
    if pending:
        yield pending.decode("utf-8", "replace").rstrip("\r")


def note(log_path: Path | None, text: str) -> None:
    """Append the env's own line ``text`` to the log, timestamped like the engine's."""
    if log_path is None:
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"{stamp} [docker env] {text}\n")
