"""Stages of an experiment by task id: their tries and their stored log events."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import EventRow, StageTaskRow
from vlmhb.backend.schemas import AttemptOut, LogLine, StageAttempts
from vlmhb.core.contracts import EventType


def find(session: Session, experiment_id: str, task_id: str) -> StageTaskRow | None:
    """The experiment's stage with ``task_id``."""
    return session.scalar(
        select(StageTaskRow).where(
            StageTaskRow.experiment_id == experiment_id, StageTaskRow.task_id == task_id
        )
    )


def attempts(stage: StageTaskRow) -> StageAttempts:
    """Every try of ``stage`` (read in its session), first try first."""
    return StageAttempts(
        task_id=stage.task_id,
        stage=stage.stage,
        run_name=stage.run_name,
        attempts=[AttemptOut.model_validate(t) for t in stage.tries],
    )


def log_lines(session: Session, experiment_id: str, task_id: str, limit: int) -> list[LogLine]:
    """The stage's last ``limit`` log events, oldest first."""
    rows = session.execute(
        select(EventRow.seq, EventRow.payload)
        .where(
            EventRow.experiment_id == experiment_id,
            EventRow.task_id == task_id,
            EventRow.type == EventType.LOG.value,
        )
        .order_by(EventRow.seq.desc())
        .limit(limit)
    ).all()
    lines = []
    for seq, payload in reversed(rows):
        event = json.loads(payload)["event"]
        lines.append(LogLine(seq=seq, ts=event.get("ts") or 0.0, message=event.get("message", "")))
    return lines
