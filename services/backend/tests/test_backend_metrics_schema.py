"""The metric metadata routes on the real app: a run's metrics_schema.json, the merged
schema of an experiment, the registry fallback for runs evaluated before the file existed,
and 404s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from vlmhb_backend_testkit import experiment_yaml, submit, wait_status

from vlmhb.core.files import METRICS_SCHEMA_FILE

API = "/api/v1"


async def test_run_and_experiment_schemas(
    client: httpx.AsyncClient, dataset: Path, make_settings: Any
) -> None:
    exp_id = (await submit(client, experiment_yaml(dataset, "meta", models=("a", "b")))).json()[
        "id"
    ]
    body = await wait_status(client, exp_id)
    assert body["status"] == "COMPLETED", body
    run_a, run_b = body["runs"]

    response = await client.get(f"{API}/experiments/{exp_id}/runs/{run_a['name']}/metrics-schema")
    assert response.status_code == 200, response.text
    metrics = response.json()["metrics"]
    assert metrics["cer"] == {
        "name": "cer",
        "kind": "quality",
        "higher_is_better": False,
        "unit": "ratio",
        "range": [0.0, None],
        "description": "character error rate",
    }
    assert metrics["anls"]["higher_is_better"] is True
    for name in ("itl_ms_mean", "queue_ms_p50", "latency_ms_p99"):  # the UI guessed these
        assert (metrics[name]["kind"], metrics[name]["higher_is_better"]) == ("speed", False)
        assert metrics[name]["unit"] == "ms"
    assert metrics["throughput_rps"]["higher_is_better"] is True
    by_id = await client.get(f"{API}/experiments/{exp_id}/runs/{run_a['id']}/metrics-schema")
    assert by_id.json() == response.json()

    # a run evaluated before metrics_schema.json: the registry's metadata, the same answer
    run_dir = make_settings().runs_dir / "meta" / run_b["name"]
    (run_dir / METRICS_SCHEMA_FILE).unlink()
    old = await client.get(f"{API}/experiments/{exp_id}/runs/{run_b['name']}/metrics-schema")
    assert old.json()["metrics"]["cer"] == metrics["cer"]
    assert old.json()["metrics"]["itl_ms_mean"] == metrics["itl_ms_mean"]

    merged = (await client.get(f"{API}/experiments/{exp_id}/metrics-schema")).json()
    assert set(merged["metrics"]) == set(metrics)
    assert merged["metrics"]["cer"]["higher_is_better"] is False


async def test_schema_of_unknown_experiment_or_run_is_404(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"{API}/experiments/nope/metrics-schema")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    run = await client.get(f"{API}/experiments/nope/runs/x/metrics-schema")
    assert run.status_code == 404
