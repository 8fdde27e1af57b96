"""The orchestrator package stays installable on a GPU host without the backend's
database and UI stack: it declares none of it and runs with it unimportable."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import textwrap

# the backend's stack: database, migrations, PostgreSQL driver, charts, tables
FORBIDDEN = ("sqlalchemy", "alembic", "psycopg", "plotly", "pandas", "vlmhb.backend")

BLOCKED_RUN = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    from pathlib import Path

    FORBIDDEN = {forbidden!r}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                raise ImportError(f"blocked import: {{name}}")
            return None

    sys.meta_path.insert(0, Block())
    import vlmhb.orchestrator
    for module in pkgutil.walk_packages(vlmhb.orchestrator.__path__, "vlmhb.orchestrator."):
        importlib.import_module(module.name)
    from vlmhb.orchestrator.app import create_orchestrator_app
    from vlmhb.orchestrator.cli import orchestrator_app

    app = create_orchestrator_app("redis://127.0.0.1:1/0", Path(sys.argv[1]), "t" * 32)
    print(sorted(app.openapi()["paths"]))
    assert not [m for m in sys.modules if m.split(".")[0] in FORBIDDEN], "leaked"
    orchestrator_app(["--help"], prog_name="vlmhb orchestrator")
    """
)


def test_imports_and_starts_without_the_backend_stack(tmp_path: str) -> None:
    """Every module imports, the app builds and the CLI answers with the backend's
    packages made unimportable (a meta-path finder that raises)."""
    code = BLOCKED_RUN.format(forbidden=FORBIDDEN)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "['/cancel/{experiment_id}', '/health', '/metrics', '/resources', '/run', " in proc.stdout
    )
    assert "--redis-url" in proc.stdout  # the command's help


def test_declared_dependencies_exclude_the_backend_stack() -> None:
    requires = importlib.metadata.requires("vlmhb-orchestrator") or []
    names = {re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower() for req in requires}
    assert "vlmhb-core" in names and "redis" in names
    assert not names & {"sqlalchemy", "alembic", "psycopg", "plotly", "pandas", "vlmhb-backend"}


def test_test_blocker_catches_a_forbidden_import(tmp_path: str) -> None:
    """The blocker itself works: importing the backend under it fails."""
    code = BLOCKED_RUN.format(forbidden=FORBIDDEN).replace(
        "import vlmhb.orchestrator\n", "import vlmhb.orchestrator\nimport vlmhb.backend.app\n", 1
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and "blocked import" in proc.stderr
