"""``GET /api/v1/metrics``: Prometheus text counted from the database (experiments, stages,
hosts, jobs, host events) plus the embedded orchestrator's series; behind the token."""

from __future__ import annotations

from pathlib import Path

import httpx
from vlmhb_backend_testkit import TERMINAL, experiment_yaml, submit, wait_status

from vlmhb.core.metrics import scraped


async def test_metrics_count_what_the_database_holds(
    client: httpx.AsyncClient, dataset: Path
) -> None:
    empty = scraped((await client.get("/api/v1/metrics")).text)
    assert not [k for k in empty if k.startswith("vlmhb_backend_experiments{")]
    assert empty['vlmhb_orchestrator_experiments_finished_total{outcome="COMPLETED"}'] == 0

    accepted = await submit(client, experiment_yaml(dataset, "metrics", models=("a", "b")))
    assert (await wait_status(client, accepted.json()["id"], TERMINAL))["status"] == "COMPLETED"
    await client.post("/api/v1/hosts", json={"name": "gpu-01", "address": "10.0.0.9"})

    response = await client.get("/api/v1/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = scraped(response.text)
    assert found['vlmhb_backend_experiments{status="COMPLETED"}'] == 1
    stages = {k: v for k, v in found.items() if k.startswith("vlmhb_backend_stages{")}
    # per model inference, evaluation and its run report; then the experiment report
    assert stages == {'vlmhb_backend_stages{state="COMPLETED"}': 2 * 3 + 1}
    assert found['vlmhb_backend_hosts{status="new"}'] == 1
    assert found['vlmhb_orchestrator_experiments_finished_total{outcome="COMPLETED"}'] == 1
    assert found["vlmhb_orchestrator_experiments_running"] == 0


async def test_metrics_need_the_token(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/v1/metrics", headers={"Authorization": ""})
    assert anonymous.status_code == 401
