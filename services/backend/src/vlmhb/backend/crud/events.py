"""Stored events: the last ``seq`` of an experiment and the messages after a ``seq``."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import EventRow

REPLAY_PAGE = 1000


def last_seq(session: Session, experiment_id: str) -> int:
    return (
        session.scalar(
            select(func.max(EventRow.seq)).where(EventRow.experiment_id == experiment_id)
        )
        or 0
    )


def events_after(
    session: Session, experiment_id: str, after: int, upto: int | None, limit: int = REPLAY_PAGE
) -> list[tuple[int, str]]:
    """Stored messages of the experiment with ``after < seq <= upto``, oldest first."""
    query = select(EventRow.seq, EventRow.payload).where(
        EventRow.experiment_id == experiment_id, EventRow.seq > after
    )
    if upto is not None:
        query = query.where(EventRow.seq <= upto)
    return [(s, p) for s, p in session.execute(query.order_by(EventRow.seq).limit(limit))]
