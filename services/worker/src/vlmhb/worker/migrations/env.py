"""Alembic environment of the lease store: online migrations against ``sqlalchemy.url``,
versions kept in their own table (``vlmhb_worker_alembic_version``) so the store can share a
database with the backend's schema."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from vlmhb.worker.store.models import Base

VERSION_TABLE = "vlmhb_worker_alembic_version"
config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
