"""Revision 0002 (stage placement and tries) upgrades a database holding 0001's rows, on
SQLite and on a fresh PostgreSQL database, and goes back down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, select, text

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import alembic_config, upgrade
from vlmhb.backend.db.models import StageTaskRow
from vlmhb.backend.events.persistence import Persistence
from vlmhb.backend.schemas import StageOut
from vlmhb.core.contracts import Event, EventType, StageName, TaskState

OLD_ROWS = [
    "INSERT INTO experiments (id, name, status, message, config_format, config_path, models,"
    " progress, stages_total, stages_done, attempts, created_at, updated_at)"
    " VALUES ('e1', 'old', 'RUNNING', '', 'yaml', 'x', 'm', 0, 1, 0, 1,"
    " '2026-11-30 10:00:00+00:00', '2026-11-30 10:00:00+00:00')",
    "INSERT INTO stage_tasks (experiment_id, task_id, run_name, stage, state, message,"
    " updated_at) VALUES ('e1', 't1', 'r1', 'inference', 'RUNNING', 'before',"
    " '2026-11-30 10:00:00+00:00')",
]


def test_0002_keeps_old_stages_and_records_tries_after(empty_db_url: str, tmp_path: Path) -> None:
    upgrade(empty_db_url, "0001")
    engine = create_engine(empty_db_url)
    with engine.begin() as conn:
        for statement in OLD_ROWS:
            conn.execute(text(statement))
    engine.dispose()

    upgrade(empty_db_url)
    db = Database(empty_db_url)
    try:
        with db.session() as session:
            old = StageOut.model_validate(session.scalars(select(StageTaskRow)).one())
        assert (old.task_id, old.state, old.message) == ("t1", "RUNNING", "before")
        assert (old.attempt, old.host, old.gpu_ids, old.max_attempts) == (None, None, None, None)

        Persistence(db, tmp_path).persist(
            [
                Event(
                    type=EventType.STATE,
                    topic="e1",
                    task_id="t1",
                    run="r1",
                    stage=StageName.INFERENCE,
                    state=TaskState.RUNNING,
                    attempt=1,
                    host="gpu-host-2",
                    gpu_ids=["0", "1"],
                    message="retry 1 of 1 after an infrastructure failure: OOM",
                    ts=1_790_000_000.0,
                )
            ]
        )
        with db.session() as session:
            stage = session.scalars(select(StageTaskRow)).one()
            placed = StageOut.model_validate(stage)
            tries = [(t.attempt, t.host, t.gpu_ids, t.state) for t in stage.tries]
        assert (placed.attempt, placed.max_attempts, placed.host) == (1, 2, "gpu-host-2")
        assert placed.gpu_ids == ["0", "1"]
        assert tries == [(1, "gpu-host-2", ["0", "1"], "RUNNING")]
    finally:
        db.dispose()

    command.downgrade(alembic_config(empty_db_url), "0001")
    engine = create_engine(empty_db_url)
    try:
        schema = inspect(engine)
        assert "stage_attempts" not in schema.get_table_names()
        assert "host" not in {c["name"] for c in schema.get_columns("stage_tasks")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT task_id FROM stage_tasks")).scalar() == "t1"
    finally:
        engine.dispose()
