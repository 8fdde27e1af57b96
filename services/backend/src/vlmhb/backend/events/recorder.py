"""The bus subscriber that makes the database the source of truth: its ordered queue.

Every event (and every status change the backend itself decides, such as ``ACCEPTED`` or
``INTERRUPTED``) goes through one ordered queue: a batch is applied to the DB in one
transaction (``persistence``: rows moved by ``projection``, one ``events`` row each,
which gives its ``seq``), committed, and only then broadcast to WebSocket/SSE clients. A
client that reads a snapshot at ``seq`` N therefore needs exactly the messages with
``seq > N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from vlmhb.backend.db.engine import Database
from vlmhb.backend.events.hub import Hub, Message
from vlmhb.backend.events.persistence import Item, Persistence, StatusChange, experiment_of
from vlmhb.backend.states import ExperimentStatus

log = logging.getLogger(__name__)
BATCH = 500


class Recorder:
    """Persists events and status changes in order, then broadcasts them (module docs)."""

    def __init__(self, db: Database, hub: Hub, runs_root: Path) -> None:
        self.db = db
        self.hub = hub
        self.runs_root = runs_root
        self.persistence = Persistence(db, runs_root)
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- intake
    def enqueue(self, item: Item) -> None:
        """Take an event or status change (synchronous: a bus listener)."""
        self._queue.put_nowait(item)

    def set_status(self, experiment_id: str, status: ExperimentStatus, message: str = "") -> None:
        self.enqueue(StatusChange(experiment_id, status, message))

    async def wait_idle(self) -> None:
        """Wait until everything enqueued so far is persisted and broadcast."""
        await self._queue.join()

    # ----------------------------------------------------------------- loop
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.wait_idle(), 30)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                messages = await asyncio.to_thread(self._persist_isolated, batch)
                for topic, message in messages:
                    self.hub.broadcast(topic, message)
            except Exception:
                log.exception("could not broadcast %d event(s)", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def persist(self, batch: list[Item]) -> list[tuple[str, Message]]:
        """Apply ``batch`` in one transaction; return the messages to broadcast."""
        return self.persistence.persist(batch)

    def _persist_isolated(self, batch: list[Item]) -> list[tuple[str, Message]]:
        """``persist`` the batch; when it fails (rolled back), retry item by item so one
        bad event (or an experiment deleted meanwhile) drops only itself."""
        try:
            return self.persist(batch)
        except Exception:
            if len(batch) == 1:
                log.exception(
                    "dropped a %s of experiment %s: could not persist it",
                    type(batch[0]).__name__,
                    experiment_of(batch[0]),
                )
                return []
        out: list[tuple[str, Message]] = []
        for item in batch:
            out += self._persist_isolated([item])
        return out
