"""End to end against real servers started with the real CLI: ``vlmhb serve`` with a
WebSocket client (``websockets``) and an SSE client, survival of a killed server, and the
split mode (``vlmhb backend`` + ``vlmhb orchestrator`` over Redis, PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from vlmhb_backend_testkit import AUTH, experiment_yaml, server, wait_status
from vlmhb_orchestrator_testkit import free_port

pytestmark = pytest.mark.slow
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"}


async def test_serve_websocket_and_sse(tmp_path: Path, dataset: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server(["serve"], tmp_path, port):
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=AUTH) as client:
            response = await client.post(
                "/api/v1/experiments",
                content=experiment_yaml(dataset, "e2e", latency_ms=50),
                headers={"content-type": "application/yaml"},
            )
            assert response.status_code == 202
            exp_id = response.json()["id"]
            messages: list[dict[str, Any]] = []
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/api/v1/ws/{exp_id}", additional_headers=AUTH
            ) as ws:
                while True:
                    message = json.loads(await ws.recv())
                    messages.append(message)
                    status = (
                        message["experiment"]["status"]
                        if message["type"] == "snapshot"
                        else message["experiment_status"]
                    )
                    if status in TERMINAL:
                        break
            assert status == "COMPLETED"
            snapshot, live = messages[0], messages[1:]
            seqs = [m["seq"] for m in live]
            assert all(s > snapshot["seq"] for s in seqs) and seqs == sorted(set(seqs))
            # the live part is exactly what was stored after the snapshot
            replay = await _sse(client, exp_id, since=snapshot["seq"])
            assert [m["seq"] for m in replay[1:]] == seqs
            assert replay[0]["type"] == "snapshot"
            assert (await client.get("/api/v1/experiments")).json()["items"][0]["id"] == exp_id
    assert (tmp_path / ".vlmhb" / "vlmhb.db").is_file()  # default data folder
    assert (tmp_path / "runs" / "e2e" / "report.html").is_file()  # default runs folder


async def _sse(client: httpx.AsyncClient, exp_id: str, since: int) -> list[dict[str, Any]]:
    """Read the SSE stream until the experiment's final stored event."""
    detail = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
    out: list[dict[str, Any]] = []
    async with client.stream(
        "GET", f"/api/v1/experiments/{exp_id}/events", params={"since": since}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if out[-1]["seq"] >= detail["last_seq"] and len(out) > 1:
                    break
    return out


def _answers_ids(run_dir: Path) -> list[str]:
    with (run_dir / "answers.csv").open(encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle, delimiter=";")]


async def test_restart_survival(tmp_path: Path, dataset: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    text = experiment_yaml(dataset, "slow", latency_ms=250).replace(
        "concurrency: 2", "concurrency: 1"
    )
    with server(["serve"], tmp_path, port) as proc:
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=AUTH) as client:
            exp_id = (
                await client.post(
                    "/api/v1/experiments",
                    content=text.encode(),
                    headers={"content-type": "application/yaml"},
                )
            ).json()["id"]
            while True:  # wait for a few answers, then kill the server hard
                body = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
                if body["runs"] and (body["runs"][0]["done"] or 0) >= 3:
                    break
                assert body["status"] in ("ACCEPTED", "RUNNING"), body
                await asyncio.sleep(0.1)
        proc.kill()
        proc.wait()
    run_dir = tmp_path / "runs" / "slow" / body["runs"][0]["name"]
    before = _answers_ids(run_dir)
    assert 3 <= len(before) < body["runs"][0]["total"]
    with server(["serve"], tmp_path, port):
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=AUTH) as client:
            body = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
            assert body["status"] == "INTERRUPTED"
            assert body["runs"][0]["stages"][0]["state"] == "INTERRUPTED"
            assert (await client.post(f"/api/v1/experiments/{exp_id}/rerun")).status_code == 202
            done = await wait_status(client, exp_id)
            assert done["status"] == "COMPLETED", done["message"]
    after = _answers_ids(run_dir)
    assert len(after) == len(set(after)) == done["runs"][0]["total"]
    assert after[: len(before)] == before  # finished samples kept, not asked again


async def test_split_backend_and_orchestrator(
    tmp_path: Path, dataset: Path, redis_url: str, pg_database: str
) -> None:
    orch_port, api_port = free_port(), free_port()
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": pg_database,
        "ORCHESTRATOR_URL": f"http://127.0.0.1:{orch_port}",
    }
    headers = AUTH
    with (
        server(["orchestrator"], tmp_path, orch_port, env, health="/health"),
        server(["backend"], tmp_path, api_port, env),
    ):
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", timeout=30, headers=headers
        ) as client:
            health = (await client.get("/api/v1/health")).json()
            assert health["mode"] == "split" and health["bus"] == "redis"
            resources = (await client.get("/api/v1/resources")).json()
            assert resources["source"] == "orchestrator" and resources["cpu_slots"] >= 1
            response = await client.post(
                "/api/v1/experiments",
                content=experiment_yaml(dataset, "split").encode(),
                headers={"content-type": "application/yaml"},
            )
            assert response.status_code == 202
            exp_id = response.json()["id"]
            done = await wait_status(client, exp_id)
            assert done["status"] == "COMPLETED", done["message"]
            assert done["runs"][0]["state"] == "COMPLETED" and done["progress"] == 1.0
        status = httpx.get(f"http://127.0.0.1:{orch_port}/status/{exp_id}", headers=headers).json()
        assert status == {"experiment_id": exp_id, "active": False, "state": "COMPLETED"}
        assert httpx.get(f"http://127.0.0.1:{orch_port}/resources").status_code == 401
