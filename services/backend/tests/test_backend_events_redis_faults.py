"""Events over Redis under faults, against a private ``redis-server`` and real ``vlmhb``
servers: Redis killed (SIGKILL) and restarted empty mid-run, Redis down at start and at
shutdown; plus the bus alone across a restart (every event once, in order)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlmhb_backend_testkit import experiment_yaml, wait_status
from vlmhb_faults_testkit import (
    HEADERS,
    TOKEN,
    server_log,
    sigterm_seconds,
    start_server,
    stopped_at_end,
)
from vlmhb_orchestrator_testkit import free_port, private_redis

pytestmark = pytest.mark.slow
SHUTDOWN_LIMIT_S = 10.0


def _slow_experiment(dataset: Path, name: str, latency_ms: int = 150) -> str:
    return experiment_yaml(dataset, name, latency_ms=latency_ms).replace(
        "concurrency: 2", "concurrency: 1"
    )


async def _wait_done(client: httpx.AsyncClient, exp_id: str, at_least: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        body: dict[str, Any] = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
        if body["runs"] and (body["runs"][0]["done"] or 0) >= at_least:
            return body
        assert body["status"] in ("ACCEPTED", "RUNNING"), body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


def _assert_completed(body: dict[str, Any]) -> None:
    assert body["status"] == "COMPLETED", body["message"]
    assert body["progress"] == 1.0 and body["stages_done"] == body["stages_total"] == 4
    run = body["runs"][0]
    assert run["state"] == "COMPLETED" and run["done"] == run["total"] and run["total"] > 0
    stages = [*run["stages"], *body["experiment_stages"]]
    assert sorted(s["stage"] for s in stages) == sorted(
        ["inference", "evaluation", "report", "experiment_report"]
    )
    assert all(s["state"] == "COMPLETED" for s in stages), stages


@pytest.mark.parametrize("mode", ["embedded", "split"])
async def test_redis_killed_and_restarted_mid_run(tmp_path: Path, dataset: Path, mode: str) -> None:
    redis_port, api_port = free_port(), free_port()
    with private_redis(redis_port, tmp_path) as redis_server:
        env = {"REDIS_URL": redis_server.url}
        procs: list[subprocess.Popen[bytes]] = []
        if mode == "split":
            orch_port = free_port()
            procs.append(
                start_server(["orchestrator"], tmp_path, orch_port, env, "/health", dataset.parent)
            )
            env["ORCHESTRATOR_URL"] = f"http://127.0.0.1:{orch_port}"
        command = ["serve"] if mode == "embedded" else ["backend"]
        api = start_server(command, tmp_path, api_port, env, data_root=dataset.parent)
        with stopped_at_end(api), stopped_at_end(procs[0] if procs else api):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", headers=HEADERS, timeout=30
            ) as client:
                response = await client.post(
                    "/api/v1/experiments",
                    content=_slow_experiment(dataset, "outage"),
                    headers={"content-type": "application/yaml"},
                )
                assert response.status_code == 202, response.text
                exp_id = response.json()["id"]
                await _wait_done(client, exp_id, 3)
                redis_server.kill()
                await asyncio.sleep(1.5)  # events published now wait in the outbox
                health = (await client.get("/api/v1/health")).json()
                assert health["bus"] == "redis-down"
                redis_server.start()  # same port, empty stream
                done = await wait_status(client, exp_id, deadline_s=120)
                _assert_completed(done)
                # the bus still works for a new submission after the outage
                response = await client.post(
                    "/api/v1/experiments",
                    content=_slow_experiment(dataset, "after", 0),
                    headers={"content-type": "application/yaml"},
                )
                _assert_completed(await wait_status(client, response.json()["id"]))
            seconds = sigterm_seconds(api)
            assert seconds < SHUTDOWN_LIMIT_S, server_log(tmp_path, api_port)
            for proc in procs:
                assert sigterm_seconds(proc) < SHUTDOWN_LIMIT_S


async def test_sigterm_with_redis_down_marks_running_interrupted(
    tmp_path: Path, dataset: Path
) -> None:
    redis_port, api_port = free_port(), free_port()
    with private_redis(redis_port, tmp_path) as redis_server:
        api = start_server(
            ["serve"], tmp_path, api_port, {"REDIS_URL": redis_server.url}, data_root=dataset.parent
        )
        with stopped_at_end(api):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", headers=HEADERS, timeout=30
            ) as client:
                response = await client.post(
                    "/api/v1/experiments",
                    content=_slow_experiment(dataset, "down", 300),
                    headers={"content-type": "application/yaml"},
                )
                exp_id = response.json()["id"]
                await _wait_done(client, exp_id, 2)
            redis_server.kill()
            await asyncio.sleep(0.5)
            assert sigterm_seconds(api) < SHUTDOWN_LIMIT_S, server_log(tmp_path, api_port)
    with sqlite3.connect(tmp_path / ".vlmhb" / "vlmhb.db") as db:
        status = db.execute("SELECT status FROM experiments WHERE id = ?", (exp_id,)).fetchone()
    assert status == ("INTERRUPTED",)


@pytest.mark.parametrize("command", ["serve", "orchestrator"])
def test_redis_unreachable_at_start_is_one_line(tmp_path: Path, command: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", command, "--port", str(free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "REDIS_URL": url, "VLMHB_AUTH_TOKEN": TOKEN},
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "Redis" in line]
    assert len(errors) == 1 and url in errors[0] and "unreachable" in errors[0], proc.stderr
