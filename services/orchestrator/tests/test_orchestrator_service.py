"""The orchestrator HTTP service (``create_orchestrator_app``) over ASGI, with a real Redis."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from vlmhb.core.metrics import scraped
from vlmhb.core.testing import wait_for_async
from vlmhb.orchestrator.app import create_orchestrator_app
from vlmhb.orchestrator.tokens import WeakToken

TOKEN = "orchestrator-test-token-0123456789"


async def test_orchestrator_requires_its_token(tmp_path: Path, redis_url: str) -> None:
    app = create_orchestrator_app(redis_url, tmp_path, TOKEN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orch"
    ) as client:
        for headers in ({}, {"Authorization": "Bearer " + "n" * 32}):
            assert (await client.get("/resources", headers=headers)).status_code == 401
            assert (
                await client.post(
                    "/run", headers=headers, json={"experiment_id": "e", "config_path": "/x"}
                )
            ).status_code == 401
            assert (await client.get("/status/e", headers=headers)).status_code == 401
            assert (await client.post("/cancel/e", headers=headers)).status_code == 401
            assert (await client.get("/metrics", headers=headers)).status_code == 401


async def test_unknown_experiment_and_missing_config(tmp_path: Path, redis_url: str) -> None:
    app = create_orchestrator_app(redis_url, tmp_path, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orch", headers=auth
        ) as client,
    ):
        assert (await client.get("/status/nope")).status_code == 404
        assert (await client.post("/cancel/nope")).status_code == 404
        missing = await client.post(
            "/run", json={"experiment_id": "e1", "config_path": str(tmp_path / "none.yaml")}
        )
        assert missing.status_code == 422 and "not found" in missing.text
        resources = (await client.get("/resources")).json()
        assert resources["experiments_running"] == 0 and resources["cpu_slots"] >= 1
        health = await client.get("/health", headers={"Authorization": ""})  # open route
        assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_metrics_count_finished_experiments_and_resources(
    tmp_path: Path, redis_url: str
) -> None:
    """``/metrics`` (Prometheus text) after an experiment that fails at load: its config is
    not an experiment."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [not, a, name]\n")
    app = create_orchestrator_app(redis_url, tmp_path, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orch", headers=auth
        ) as client,
    ):
        before = scraped((await client.get("/metrics")).text)
        assert before['vlmhb_orchestrator_experiments_finished_total{outcome="FAILED"}'] == 0
        started = await client.post(
            "/run", json={"experiment_id": "m1", "config_path": str(broken)}
        )
        assert started.status_code == 202

        async def failed() -> dict[str, float] | None:
            found = scraped((await client.get("/metrics")).text)
            key = 'vlmhb_orchestrator_experiments_finished_total{outcome="FAILED"}'
            done = found[key] == 1 and found["vlmhb_orchestrator_experiments_running"] == 0
            return found if done else None  # counted when it ends, then no longer running

        found = await wait_for_async(failed, 30)
        assert found['vlmhb_orchestrator_experiments_finished_total{outcome="COMPLETED"}'] == 0
        assert found['vlmhb_orchestrator_resources{resource="cpu_slots"}'] >= 1
        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_weak_token_refused(tmp_path: Path) -> None:
    with pytest.raises(WeakToken):
        create_orchestrator_app("redis://127.0.0.1:6379/0", tmp_path, "short")
