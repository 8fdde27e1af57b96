"""Recorder and snapshot consistency: reads racing with commits, one bad event in a batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from vlmhb.backend.crud.experiments import detail
from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import upgrade
from vlmhb.backend.db.models import EventRow, Experiment
from vlmhb.backend.events.hub import Hub
from vlmhb.backend.events.projection import Projection
from vlmhb.backend.events.recorder import Recorder
from vlmhb.core.contracts import Event, EventType, TaskState


@pytest.fixture
def db(make_settings: Any) -> Iterator[tuple[Database, Path]]:
    settings = make_settings().resolved()
    upgrade(settings.url)
    database = Database(settings.url)
    with database.session() as session:
        session.add(
            Experiment(
                id="e1",
                name="e1",
                status="RUNNING",
                message="",
                config_format="yaml",
                config_path="x",
                models="",
            )
        )
    yield database, settings.runs_dir
    database.dispose()


def stage_event(task_id: str, state: TaskState, message: str = "") -> Event:
    return Event(
        type=EventType.STATE,
        topic="e1",
        task_id=task_id,
        run="r",
        stage="inference",
        state=state,
        message=message,
    )


def test_detail_is_never_older_than_its_last_seq(db: tuple[Database, Path]) -> None:
    """An event committed while the snapshot is being read must not be counted in
    ``last_seq`` without being visible in the rows (the client would never see it)."""
    database, runs = db
    recorder = Recorder(Database(database.url), Hub(), runs)
    recorder.persist([stage_event("t1", TaskState.RUNNING)])
    injected: list[int] = []

    def commit_between_reads(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not injected and "FROM stage_tasks" in statement:
            injected.extend(
                m.seq for _, m in recorder.persist([stage_event("t1", TaskState.COMPLETED)])
            )

    event.listen(database.engine, "after_cursor_execute", commit_between_reads)
    try:
        with database.session() as session:
            snapshot = detail(session, "e1")
    finally:
        event.remove(database.engine, "after_cursor_execute", commit_between_reads)
        recorder.db.dispose()
    assert snapshot is not None and injected
    stage = snapshot.runs[0].stages[0]
    assert snapshot.last_seq < injected[0] or stage.state == "COMPLETED"


async def test_one_bad_event_does_not_drop_its_batch(
    db: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, runs = db
    hub = Hub()
    client = hub.register("e1")
    recorder = Recorder(database, hub, runs)
    apply = Projection.apply_event

    def failing(self: Projection, session: Any, experiment: Any, item: Event) -> Any:
        if item.message == "boom":
            raise RuntimeError("boom")
        return apply(self, session, experiment, item)

    monkeypatch.setattr(Projection, "apply_event", failing)
    recorder.start()
    for task_id, message in (("t1", ""), ("t2", "boom"), ("t3", "")):
        recorder.enqueue(stage_event(task_id, TaskState.RUNNING, message))
    await asyncio.wait_for(recorder.wait_idle(), 30)
    await recorder.stop()
    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(EventRow))
    assert stored == 2
    assert client.queue.qsize() == 2
