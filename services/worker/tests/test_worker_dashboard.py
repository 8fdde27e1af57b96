"""An experiment submitted in the dashboard when the plane runs with the job queue
(``VLMHB_EXECUTOR=celery``): the backend's embedded orchestrator sends its stages through
a real Redis to a real worker and agents, and the API shows where each stage ran, its try
history and the log lines relayed from the agent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from vlmhb_worker_testkit import MakePlane

sys.path.insert(0, str(Path(__file__).parents[2] / "backend" / "tests"))
from vlmhb_backend_testkit import (
    TEST_HOST,
    TEST_TOKEN,
    api_client,
    experiment_yaml,
    submit,
    wait_status,
)

from vlmhb.backend.settings import BackendSettings

API = "/api/v1"


async def test_a_dashboard_experiment_runs_through_the_queue_and_shows_its_hosts(
    make_plane: MakePlane, dataset: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = make_plane()
    plane.agent("gpu-host", gpus="0")
    plane.agent("cpu-host")
    plane.worker()
    for name, value in plane.env().items():
        monkeypatch.setenv(name, value)
    settings = BackendSettings(
        data_dir=plane.folder / "state",
        runs_dir=plane.folder / "runs",
        data_root=root,
        database_url=f"sqlite:///{plane.folder / 'backend.db'}",
        redis_url=None,
        orchestrator_url=None,
        auth_token=TEST_TOKEN,
        allowed_hosts=[TEST_HOST],
        executor="celery",
    )
    async with api_client(settings) as http:
        accepted = await submit(http, experiment_yaml(dataset, "queued", latency_ms=50))
        assert accepted.status_code == 202, accepted.text
        exp_id = accepted.json()["id"]
        body = await wait_status(http, exp_id, deadline_s=240)
        assert body["status"] == "COMPLETED", body
        stages = {s["stage"]: s for s in body["runs"][0]["stages"]}
        assert {stage["host"] for stage in stages.values()} <= {"gpu-host", "cpu-host"}
        assert all(stage["host"] for stage in stages.values()), "every stage ran on an agent"
        inference = stages["inference"]
        tries = (
            await http.get(f"{API}/experiments/{exp_id}/stages/{inference['task_id']}/attempts")
        ).json()["attempts"]
        assert [(t["attempt"], t["state"]) for t in tries] == [(0, "COMPLETED")]
        assert tries[0]["host"] == inference["host"]
        logs = (
            await http.get(f"{API}/experiments/{exp_id}/stages/{inference['task_id']}/logs")
        ).json()
        assert logs["lines"] or logs["file_tail"], "the agent's stage log reached the dashboard"
