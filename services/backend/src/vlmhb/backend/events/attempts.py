"""The tries of a stage, from its state events: the stage row's current try
(``attempt``, ``host``, ``gpu_ids``, ``max_attempts``) and one ``StageAttemptRow`` each.

A stage's ``RUNNING`` event with ``attempt`` set announces a try (``Event.attempt``). The
same number as the open try's places it (``host``/``gpu_ids`` of a placing executor); a
new number ends the open try as ``FAILED`` with the event's message (the scheduler's
``retry N of M after an infrastructure failure: <why>``) and opens the next; attempt 0
starts the history over (a rerun schedules the stage afresh). A terminal state ends the
open try with that state and message. Events without ``attempt`` say nothing of a try.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from vlmhb.backend.db.models import StageAttemptRow, StageTaskRow, utcnow
from vlmhb.core.contracts import Event, TaskState

# the scheduler's retry announcement (vlmhb.core.orchestration.scheduler)
RETRY = re.compile(r"^retry (\d+) of (\d+)\b")


def tries_allowed(message: str) -> int | None:
    """Tries a stage may take (the first plus the retries) from a retry announcement
    ``retry N of M ...``; None when ``message`` is not one."""
    match = RETRY.match(message)
    return int(match.group(2)) + 1 if match else None


def event_time(event: Event) -> datetime:
    """When the event happened (its ``ts``), else now."""
    return datetime.fromtimestamp(event.ts, UTC) if event.ts > 0 else utcnow()


def open_try(stage: StageTaskRow) -> StageAttemptRow | None:
    """The try still running (the latest without an end), if any."""
    running = [t for t in stage.tries if t.finished_at is None]
    return running[-1] if running else None


def record_running(session: Session, stage: StageTaskRow, event: Event) -> None:
    """Apply a ``RUNNING`` event of ``stage``: place the open try or start the next."""
    if event.attempt is None:
        return
    at = event_time(event)
    current = open_try(stage)
    if current is not None and current.attempt == event.attempt:
        _place(current, event)
        _place(stage, event)
        return
    if current is not None:
        end_open_try(stage, TaskState.FAILED.value, event.message, at)
    if event.attempt == 0:
        stage.tries.clear()
        stage.max_attempts = None
    else:
        for old in [t for t in stage.tries if t.attempt >= event.attempt]:
            stage.tries.remove(old)
    session.flush()  # removed tries go before a new one takes their number
    stage.tries.append(
        StageAttemptRow(
            attempt=event.attempt,
            host=event.host,
            gpu_ids=event.gpu_ids,
            state=TaskState.RUNNING.value,
            message="",
            started_at=at,
        )
    )
    stage.attempt, stage.host, stage.gpu_ids = event.attempt, event.host, event.gpu_ids
    stage.max_attempts = tries_allowed(event.message) or stage.max_attempts


def end_open_try(stage: StageTaskRow, state: str, message: str, at: datetime) -> None:
    """End the stage's open try (if any) as ``state`` with ``message`` at ``at``."""
    current = open_try(stage)
    if current is not None:
        current.state, current.message, current.finished_at = state, message, at


def _place(row: StageTaskRow | StageAttemptRow, event: Event) -> None:
    if event.host is not None:
        row.host = event.host
    if event.gpu_ids is not None:
        row.gpu_ids = event.gpu_ids
