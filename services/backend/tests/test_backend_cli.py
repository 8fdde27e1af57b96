"""The CLI entry points through the real ``vlmhb`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, inspect

from vlmhb.backend.db.migrate import current_head


def vlmhb(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_serve_help(tmp_path: Path) -> None:
    for command in ("serve", "backend", "orchestrator"):
        result = vlmhb(command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "--port" in result.stdout and "--host" in result.stdout
    assert "--data-dir" in vlmhb("serve", "--help", cwd=tmp_path).stdout


def test_db_upgrade_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "db", "upgrade"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    engine = create_engine(f"sqlite:///{tmp_path / '.vlmhb' / 'vlmhb.db'}")
    tables = set(inspect(engine).get_table_names())
    assert {
        "experiments",
        "runs",
        "stage_tasks",
        "events",
        "artifacts",
        "alembic_version",
    } <= tables
    engine.dispose()
    again = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "db", "upgrade"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert again.returncode == 0  # idempotent


def test_db_upgrade_postgresql(tmp_path: Path, pg_database: str) -> None:
    result = vlmhb("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": pg_database})
    assert result.returncode == 0, result.stderr
    dsn = pg_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version is not None and version[0] == current_head()


def test_backend_needs_orchestrator_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "backend"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2 and "ORCHESTRATOR_URL" in result.stderr
