"""Revision 0003 (hosts, jobs, health history, host events, model catalog) on SQLite and on
a fresh PostgreSQL database: the migrated schema is what the models declare (Alembic's
comparison finds nothing), a disk size beyond 32 bits is stored, and it goes back down
keeping the experiments."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import alembic_config, upgrade
from vlmhb.backend.db.models import Base, Host, HostCheck
from vlmhb.backend.hosts import store

HOST_TABLES = {
    "hosts",
    "host_jobs",
    "host_job_events",
    "host_checks",
    "container_checks",
    "host_events",
    "catalog_models",
}


def test_0003_matches_the_models_and_goes_back_down(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0002")
    engine = create_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO experiments (id, name, status, message, config_format, config_path,"
                " models, progress, stages_total, stages_done, attempts, created_at, updated_at)"
                " VALUES ('e1', 'old', 'COMPLETED', '', 'yaml', 'x', 'm', 1, 1, 1, 1,"
                " '2026-11-30 10:00:00+00:00', '2026-11-30 10:00:00+00:00')"
            )
        )
    engine.dispose()

    upgrade(empty_db_url)
    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert differences == []
        assert set(inspect(engine).get_table_names()) >= HOST_TABLES
    finally:
        engine.dispose()

    db = Database(empty_db_url)
    try:
        with db.session() as session:
            host = Host(name="gpu-01", address="10.0.0.9", created_at=store.now())
            session.add(host)
            session.flush()
            session.add(HostCheck(host_id=host.id, status="ok", disk_free_bytes=7 * 2**40))
        with db.session() as session:
            check = session.scalars(select(HostCheck)).one()
            assert check.disk_free_bytes == 7 * 2**40  # 7 TiB: past a 32-bit column
            session.delete(session.scalars(select(Host)).one())
        with db.session() as session:
            assert session.scalars(select(HostCheck)).all() == []  # the history goes with it
    finally:
        db.dispose()

    command.downgrade(alembic_config(empty_db_url), "0002")
    engine = create_engine(empty_db_url)
    try:
        assert not HOST_TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM experiments")).scalar() == "e1"
    finally:
        engine.dispose()
