"""``vlmhb serve`` under faults, as a real subprocess: SIGTERM ends it within 10 s when idle,
with an experiment running (marked INTERRUPTED), and with WebSocket and SSE clients
connected; a fresh server accepts 20 concurrent valid submissions."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
import websockets
from vlmhb_backend_testkit import experiment_yaml
from vlmhb_faults_testkit import HEADERS, server_log, sigterm_seconds, start_server, stopped_at_end
from vlmhb_orchestrator_testkit import free_port

pytestmark = pytest.mark.slow
SHUTDOWN_LIMIT_S = 10.0
YAML = {"content-type": "application/yaml"}


def _serve(tmp_path: Path, dataset: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    return start_server(["serve"], tmp_path, port, {}, data_root=dataset.parent), port


def _slow(dataset: Path, name: str) -> str:
    return experiment_yaml(dataset, name, latency_ms=300).replace(
        "concurrency: 2", "concurrency: 1"
    )


async def _submit_and_wait_running(client: httpx.AsyncClient, dataset: Path, name: str) -> str:
    response = await client.post("/api/v1/experiments", content=_slow(dataset, name), headers=YAML)
    assert response.status_code == 202, response.text
    exp_id: str = response.json()["id"]
    for _ in range(600):
        body = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
        if body["runs"] and (body["runs"][0]["done"] or 0) >= 1:
            return exp_id
        await asyncio.sleep(0.1)
    raise AssertionError("the experiment did not start")


def _status(tmp_path: Path, exp_id: str) -> str:
    with sqlite3.connect(tmp_path / ".vlmhb" / "vlmhb.db") as db:
        row = db.execute("SELECT status FROM experiments WHERE id = ?", (exp_id,)).fetchone()
    return str(row[0])


async def test_sigterm_idle(tmp_path: Path, dataset: Path) -> None:
    proc, port = _serve(tmp_path, dataset)
    with stopped_at_end(proc):
        assert sigterm_seconds(proc) < SHUTDOWN_LIMIT_S, server_log(tmp_path, port)


async def test_sigterm_running_marks_interrupted(tmp_path: Path, dataset: Path) -> None:
    proc, port = _serve(tmp_path, dataset)
    with stopped_at_end(proc):
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=30
        ) as client:
            exp_id = await _submit_and_wait_running(client, dataset, "running")
        assert sigterm_seconds(proc) < SHUTDOWN_LIMIT_S, server_log(tmp_path, port)
    assert _status(tmp_path, exp_id) == "INTERRUPTED"


async def test_sigterm_with_websocket_and_sse_clients(tmp_path: Path, dataset: Path) -> None:
    proc, port = _serve(tmp_path, dataset)
    with stopped_at_end(proc):
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=60
        ) as client:
            exp_id = await _submit_and_wait_running(client, dataset, "watched")
            async with (
                websockets.connect(
                    f"ws://127.0.0.1:{port}/api/v1/ws/{exp_id}", additional_headers=HEADERS
                ) as ws,
                client.stream("GET", f"/api/v1/experiments/{exp_id}/events") as sse,
            ):
                assert await ws.recv()  # the snapshot: the client is live
                lines = sse.aiter_lines()
                while not (await lines.__anext__()).startswith("data: "):
                    pass
                seconds = await asyncio.to_thread(sigterm_seconds, proc)
        assert seconds < SHUTDOWN_LIMIT_S, server_log(tmp_path, port)
    assert _status(tmp_path, exp_id) == "INTERRUPTED"


async def test_fresh_server_accepts_20_concurrent_submissions(
    tmp_path: Path, dataset: Path
) -> None:
    proc, port = _serve(tmp_path, dataset)
    with stopped_at_end(proc):
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=60
        ) as client:
            responses = await asyncio.gather(
                *[
                    client.post(
                        "/api/v1/experiments",
                        headers=YAML,
                        content=experiment_yaml(dataset, f"burst{i}", latency_ms=0),
                    )
                    for i in range(20)
                ]
            )
        assert [r.status_code for r in responses] == [202] * 20, [
            r.text for r in responses if r.status_code != 202
        ]
