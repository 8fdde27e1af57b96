"""The lease store: who runs which stage attempt, fenced by the attempt's lease number.

Every try of a stage (``create``) gets a new ``lease``, the fencing token; it supersedes the
stage's older attempts (marked ``lost``). A worker ``claim``s a lease before it starts
anything (refused when the lease is superseded, ended, cancelled or held already: a
redelivered message is dropped), renews it with ``heartbeat`` (``FENCED`` once superseded or
ended: the worker stops its stage and drops it) and ends it with ``commit`` (refused unless
the lease is current and held by the committer: a zombie cannot write a result). The
executor watches leases: a running one whose heartbeat is older than the TTL is ``lost``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, create_engine, event, exists, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased, sessionmaker

from vlmhb.core.contracts import Event, StageResult
from vlmhb.worker.store.migrate import upgrade
from vlmhb.worker.store.models import AttemptRow, EventRow

MIGRATE_TRIES = 5


class AttemptState(StrEnum):
    QUEUED = "queued"  # sent, no worker holds it
    RUNNING = "running"  # claimed by ``worker``
    FINISHED = "finished"  # a result is committed
    LOST = "lost"  # superseded, or its worker or agent was lost


class LeaseWord(StrEnum):
    """A heartbeat's answer: go on, stop for a cancel (and commit it), or stop and drop."""

    OK = "ok"
    CANCEL = "cancel"
    FENCED = "fenced"


@dataclass(frozen=True)
class Attempt:
    """One attempt as stored (times are Unix seconds)."""

    lease: int
    stage_id: str
    attempt: int
    experiment: str
    queue: str
    state: AttemptState
    worker: str | None
    agent: str | None
    gpu_ids: list[str]
    claims: int
    refused: int
    created_at: float
    heartbeat_at: float
    started_at: float | None
    ended_at: float | None
    reason: str
    result: StageResult | None
    cancel: bool

    @classmethod
    def of(cls, row: AttemptRow) -> Attempt:
        return cls(
            lease=row.lease,
            stage_id=row.stage_id,
            attempt=row.attempt,
            experiment=row.experiment,
            queue=row.queue,
            state=AttemptState(row.state),
            worker=row.worker,
            agent=row.agent,
            gpu_ids=json.loads(row.gpu_ids),
            claims=row.claims,
            refused=row.refused,
            created_at=row.created_at,
            heartbeat_at=row.heartbeat_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            reason=row.reason,
            result=StageResult.model_validate_json(row.result) if row.result else None,
            cancel=row.cancel,
        )


def _current() -> Any:
    """SQL: no newer attempt of the same stage exists (the row's lease is current)."""
    newer = aliased(AttemptRow)
    return ~exists().where(newer.stage_id == AttemptRow.stage_id, newer.lease > AttemptRow.lease)


class LeaseStore:
    """The store at ``url`` (migrated on open). Each operation is one short transaction;
    the conditional ones are single ``UPDATE ... WHERE`` statements, atomic on SQLite and
    PostgreSQL alike."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            _upgrade_with_retries(url)
        kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ the executor's side

    def create(
        self,
        stage_id: str,
        attempt: int,
        experiment: str,
        queue: str,
        private_task: str | None = None,
    ) -> int:
        """A new attempt of ``stage_id`` (queued); older unfinished ones become ``lost``.
        ``private_task``: the task with its secrets (``revealed_json``), held until the
        attempt ends, so the broker message can carry the masked task. Returns its lease."""
        now = time.time()
        with self._session() as s:
            s.execute(
                update(AttemptRow)
                .where(
                    AttemptRow.stage_id == stage_id,
                    AttemptRow.state.in_([AttemptState.QUEUED, AttemptState.RUNNING]),
                )
                .values(
                    state=AttemptState.LOST,
                    ended_at=now,
                    reason="superseded by a new attempt",
                    private_task=None,
                )
            )
            row = AttemptRow(
                stage_id=stage_id,
                attempt=attempt,
                experiment=experiment,
                queue=queue,
                state=AttemptState.QUEUED,
                gpu_ids="[]",
                claims=0,
                refused=0,
                created_at=now,
                heartbeat_at=now,
                reason="",
                cancel=False,
                private_task=private_task,
            )
            s.add(row)
            s.flush()
            return row.lease

    def mark_lost(self, lease: int, reason: str) -> bool:
        """End an unfinished attempt as ``lost`` with ``reason``; False if it had ended."""
        return self._update(
            lease,
            [AttemptRow.state.in_([AttemptState.QUEUED, AttemptState.RUNNING])],
            state=AttemptState.LOST,
            ended_at=time.time(),
            reason=reason,
            private_task=None,
        )

    def request_cancel(self, lease: int) -> None:
        """Set the cancel flag: the holder stops its stage and commits ``CANCELLED``."""
        self._update(lease, [], cancel=True)

    def cancel_unclaimed(self, lease: int, result: StageResult) -> bool:
        """End a queued attempt with ``result`` (CANCELLED) before any worker claims it;
        False when a worker holds it (or it ended)."""
        return self._update(
            lease,
            [AttemptRow.state == AttemptState.QUEUED],
            state=AttemptState.FINISHED,
            cancel=True,
            ended_at=time.time(),
            reason=result.message,
            result=result.model_dump_json(),
            private_task=None,
        )

    def stale(self, ttl_s: float) -> list[Attempt]:
        """Running attempts whose heartbeat is older than ``ttl_s``."""
        with self._session() as s:
            rows = s.scalars(
                select(AttemptRow).where(
                    AttemptRow.state == AttemptState.RUNNING,
                    AttemptRow.heartbeat_at < time.time() - ttl_s,
                )
            )
            return [Attempt.of(r) for r in rows]

    # -------------------------------------------------------------------- the worker's side

    def claim(self, lease: int, worker: str) -> bool:
        """Take a queued, current, not cancelled attempt for ``worker``; False (and the
        refusal counted) otherwise."""
        now = time.time()
        taken = self._update(
            lease,
            [
                AttemptRow.state == AttemptState.QUEUED,
                AttemptRow.cancel.is_(False),
                _current(),
            ],
            state=AttemptState.RUNNING,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
            claims=AttemptRow.claims + 1,
        )
        if not taken:
            self._update(lease, [], refused=AttemptRow.refused + 1)
        return taken

    def unclaim(self, lease: int, worker: str) -> bool:
        """Give a held attempt back to the queue (no agent has room yet)."""
        return self._update(
            lease,
            self._held(lease, worker),
            state=AttemptState.QUEUED,
            worker=None,
            heartbeat_at=time.time(),
        )

    def heartbeat(self, lease: int, worker: str) -> LeaseWord:
        """Renew ``worker``'s lease: ``OK``, ``CANCEL`` (renewed; the cancel flag is set) or
        ``FENCED`` (superseded, ended or held by another: stop and drop the stage)."""
        if not self._update(lease, self._held(lease, worker), heartbeat_at=time.time()):
            return LeaseWord.FENCED
        attempt = self.get(lease)
        return LeaseWord.CANCEL if attempt is not None and attempt.cancel else LeaseWord.OK

    def place(self, lease: int, worker: str, agent: str, gpu_ids: list[str]) -> bool:
        """Record where the held attempt runs."""
        return self._update(
            lease, self._held(lease, worker), agent=agent, gpu_ids=json.dumps(gpu_ids)
        )

    def commit(self, lease: int, worker: str, result: StageResult) -> bool:
        """Store ``result`` and end the attempt; refused (False) unless the lease is current
        and held by ``worker``."""
        return self._update(
            lease,
            self._held(lease, worker),
            state=AttemptState.FINISHED,
            ended_at=time.time(),
            reason=result.message if result.status != "COMPLETED" else "",
            result=result.model_dump_json(),
            private_task=None,
        )

    def private_task(self, lease: int) -> str | None:
        """The task with its secrets while the attempt is unfinished; ``None`` after."""
        with self._session() as s:
            row = s.get(AttemptRow, lease)
            return None if row is None else row.private_task

    def add_events(self, lease: int, events: list[Event]) -> None:
        if not events:
            return
        with self._session() as s:
            s.add_all(EventRow(lease=lease, event=e.model_dump_json()) for e in events)

    # ---------------------------------------------------------------------------- reading

    def get(self, lease: int) -> Attempt | None:
        with self._session() as s:
            row = s.get(AttemptRow, lease)
            return None if row is None else Attempt.of(row)

    def history(self, stage_id: str) -> list[Attempt]:
        """Every attempt of ``stage_id``, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(AttemptRow).where(AttemptRow.stage_id == stage_id).order_by(AttemptRow.lease)
            )
            return [Attempt.of(r) for r in rows]

    def events_after(self, lease: int, after: int) -> list[tuple[int, Event]]:
        """The attempt's relayed events with ``seq > after``, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(EventRow)
                .where(EventRow.lease == lease, EventRow.seq > after)
                .order_by(EventRow.seq)
            )
            return [(r.seq, Event.model_validate_json(r.event)) for r in rows]

    # ---------------------------------------------------------------------------- helpers

    def _held(self, lease: int, worker: str) -> list[Any]:
        return [
            AttemptRow.state == AttemptState.RUNNING,
            AttemptRow.worker == worker,
            _current(),
        ]

    def _update(self, lease: int, conditions: list[Any], **values: Any) -> bool:
        with self._session() as s:
            done = s.execute(
                update(AttemptRow)
                .where(AttemptRow.lease == lease, *conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]


def _upgrade_with_retries(url: str) -> None:
    """Migrate; two processes starting at once may race on the first migration: the loser
    tries again and finds the schema at head."""
    for attempt in range(MIGRATE_TRIES):
        try:
            upgrade(url)
            return
        except DBAPIError:
            if attempt == MIGRATE_TRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
