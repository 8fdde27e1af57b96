"""Property-based API tests from the OpenAPI schema (schemathesis) against a real
``vlmhb serve`` on SQLite and on PostgreSQL: no request may produce a 5xx."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from vlmhb_backend_testkit import AUTH, experiment_yaml, server_env
from vlmhb_orchestrator_testkit import free_port


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Path
) -> Iterator[schemathesis.BaseSchema]:
    folder = tmp_path_factory.mktemp(f"schema-{request.param}")
    env = {}
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        env["DATABASE_URL"] = url
    import os

    port = free_port()
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmhb.core.cli.main", "serve", "--port", str(port)],
        cwd=folder,
        stdout=log,
        stderr=log,
        env={**os.environ, **server_env(), **env, "VLMHB_DATA_ROOT": str(dataset.parent)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (folder / "server.log").read_text()
            try:
                if httpx.get(f"{base}/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        # one real experiment so that list/detail/samples see data
        httpx.post(
            f"{base}/api/v1/experiments",
            content=experiment_yaml(dataset, "fuzz"),
            headers={"content-type": "application/yaml", **AUTH},
        ).raise_for_status()
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_api_never_fails_with_5xx(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, up to 20 generated cases each: no 5xx, documented status codes,
    responses matching their schemas."""
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(timeout=30, headers=AUTH)
            case.validate_response(
                response,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 12
    assert not failures, "\n\n".join(failures)
