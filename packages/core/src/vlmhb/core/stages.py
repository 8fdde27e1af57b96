"""The ``Stage`` contract and the context a stage reports through.

A stage is a class registered in the ``vlmhb.stages`` entry-point group under its
``StageName`` value. It reads and writes files in ``task.run_dir`` only, is idempotent and
resumes from what is on disk. It reports progress and log lines through ``ctx``; it never
prints to stdout itself (stdout carries the event stream when run in a subprocess).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from vlmhb.core.contracts import Event, EventType, StageResult, StageTask

if TYPE_CHECKING:
    from vlmhb.core.registries import Registries


PROGRESS_INTERVAL_S = 0.1
"""Progress updates closer together than this are held back (views redraw at 10 Hz; one
event per sample cost the stage and the orchestrator a write, a read and a parse each)."""


class StageContext:
    """What a running stage may use: progress/log reporting and a cancel flag.

    ``emit`` receives each ``Event``; the process env manager prints them as JSON lines,
    the in-process runner publishes them on the event bus.
    """

    def __init__(self, task: StageTask, emit: Callable[[Event], None] | None = None) -> None:
        self.task = task
        self._emit = emit or (lambda event: None)
        self.cancelled = threading.Event()
        self._progress_at = -float("inf")
        self._held: tuple[int, int] | None = None

    def _event(self, type_: EventType, **fields: object) -> Event:
        return Event(
            type=type_,
            topic=self.task.experiment,
            task_id=self.task.id,
            run=self.task.run_dir.name,
            stage=self.task.stage,
            ts=time.time(),
            **fields,
        )

    @property
    def registries(self) -> Registries:
        """The run's registries (the task's registry folders): resolve every name here."""
        from vlmhb.core.registries import get_registries

        return get_registries(self.task.registry_dirs)

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report ``done`` of ``total`` units (samples) finished, resumed ones included.
        An update within ``PROGRESS_INTERVAL_S`` of the last one sent is held back until
        the next one due or ``flush``; the last (``done >= total``) and one with a
        message are always sent."""
        now = time.monotonic()
        if done < total and not message and now - self._progress_at < PROGRESS_INTERVAL_S:
            self._held = (done, total)
            return
        self._held, self._progress_at = None, now
        self._emit(self._event(EventType.PROGRESS, done=done, total=total, message=message))

    def flush(self) -> None:
        """Send the progress update held back, if any (a stage runner calls it when the
        stage returns, so views end on the true count)."""
        if self._held is not None:
            done, total = self._held
            self._held = None
            self._emit(self._event(EventType.PROGRESS, done=done, total=total))

    def log(self, message: str) -> None:
        self._emit(self._event(EventType.LOG, message=message))


class Stage(Protocol):
    """A pipeline stage: ``run`` does the work for one ``StageTask``."""

    def run(self, task: StageTask, ctx: StageContext) -> StageResult: ...
