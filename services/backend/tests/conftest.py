"""Fixtures for the backend tests: real SQLite files, a real PostgreSQL database per
session, a real Redis, a small synthetic dataset and experiment configs on disk.

PostgreSQL and Redis must be reachable (``scripts/services.sh`` starts them); when they
are not, the tests that need them fail.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from vlmhb.backend.settings import BackendSettings

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "orchestrator" / "tests"))
from vlmhb_backend_testkit import TEST_HOST, TEST_TOKEN, api_client
from vlmhb_orchestrator_testkit import shared_redis_url

PG_ADMIN_DSN = os.environ.get("VLMHB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "experiments, experiment_models, runs, stage_tasks, stage_attempts, events, artifacts, "
    "hosts, host_jobs, host_job_events, host_checks, container_checks, host_events, catalog_models"
)


@contextmanager
def new_pg_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped at the end)."""
    name = f"vlmhb_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped at the end)."""
    with new_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of this test's own: a new SQLite file, or a new
    PostgreSQL database (for tests that build the schema revision by revision)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with new_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vlmhb.db'}"
    url: str = request.getfixturevalue("pg_database")
    from vlmhb.backend.db.migrate import upgrade

    upgrade(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture
def redis_url() -> str:
    return shared_redis_url()


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic VQA dataset (one document of each kind)."""
    from vlmhb.data.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("data") / "synth"
    generate_dataset(out, n=1, seed=1, formats=("vqa_csv",))
    return out


@pytest.fixture
def make_settings(tmp_path: Path, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    def make(**overrides: Any) -> BackendSettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "state",
            "runs_dir": tmp_path / "runs",
            # submitted configs read only inside the data root: this session's temp folder
            "data_root": tmp_path_factory.getbasetemp(),
            "database_url": db_url,
            "redis_url": None,
            "orchestrator_url": None,
            "auth_token": TEST_TOKEN,
            "allowed_hosts": [TEST_HOST],
        }
        values.update(overrides)
        return BackendSettings(**values)

    return make


@pytest.fixture
async def client(make_settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(make_settings()) as http:
        yield http
