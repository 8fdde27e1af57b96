"""One batch of items in one transaction: each is applied to the rows (``projection``)
and appended to ``events`` (which gives its ``seq``); the result is the messages to
broadcast once the transaction has committed."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import EventRow, Experiment, utcnow
from vlmhb.backend.events.artifacts import problems_note
from vlmhb.backend.events.hub import Message
from vlmhb.backend.events.projection import Projection
from vlmhb.backend.states import ExperimentStatus
from vlmhb.core.contracts import Event


@dataclass(frozen=True)
class StatusChange:
    """A status the backend sets itself (not reported by the orchestrator)."""

    experiment_id: str
    status: ExperimentStatus
    message: str = ""


Item = Event | StatusChange


def experiment_of(item: Item) -> str:
    """The experiment id an event or status change is about."""
    return item.experiment_id if isinstance(item, StatusChange) else item.topic


class Persistence:
    """Writes batches to ``db``; run folders (artifacts, counts) are under ``runs_root``."""

    def __init__(self, db: Database, runs_root: Path) -> None:
        self.db = db
        self.runs_root = runs_root
        self.projection = Projection(runs_root)

    def persist(self, batch: list[Item]) -> list[tuple[str, Message]]:
        """Apply ``batch`` in one transaction; return ``(experiment id, message)`` pairs to
        broadcast. Items of experiments this backend does not track are skipped."""
        out: list[tuple[str, Message]] = []
        work: deque[Item] = deque(batch)
        with self.db.session() as session:
            while work:
                item = work.popleft()
                experiment = session.get(Experiment, experiment_of(item))
                if experiment is None:
                    continue  # news about an experiment this backend does not track
                if isinstance(item, Event):
                    note = problems_note(self.runs_root, experiment, item)
                    if note is not None:
                        work.appendleft(note)
                out.append((experiment.id, self._record(session, experiment, item)))
        return out

    def _record(self, session: Session, experiment: Experiment, item: Item) -> Message:
        """Apply one item and append its ``events`` row; the message clients get."""
        state: str | None
        if isinstance(item, StatusChange):
            body = self.projection.apply_status(session, experiment, item.status, item.message)
            type_, task_id, state = "status", None, item.status.value
        else:
            body = self.projection.apply_event(session, experiment, item)
            type_, task_id = item.type.value, item.task_id
            state = item.state.value if item.state else None
        experiment.updated_at = utcnow()
        row = EventRow(
            experiment_id=experiment.id, type=type_, task_id=task_id, state=state, payload=""
        )
        session.add(row)
        session.flush()
        row.payload = json.dumps(
            {
                "type": "event",
                "seq": row.seq,
                "experiment_id": experiment.id,
                "experiment_status": experiment.status,
                "progress": experiment.progress,
                "event": body,
            },
            ensure_ascii=False,
        )
        return Message(row.seq, row.payload)
