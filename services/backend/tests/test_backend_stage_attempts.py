"""A stage's tries, host and GPUs, and its log tail: real core events through the app's
bus (in-process, or the shared test Redis) and recorder, read back through the API, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from vlmhb_backend_testkit import api_client

from vlmhb.backend.db.models import Experiment
from vlmhb.backend.services import Services
from vlmhb.backend.states import ExperimentStatus
from vlmhb.core.contracts import Event, EventType, StageName, TaskState

RETRY = "retry 1 of 2 after an infrastructure failure: worker lost (agent a unreachable)"


def services(client: httpx.AsyncClient) -> Services:
    found: Services = client.app.state.services  # type: ignore[attr-defined]
    return found


def add_experiment(client: httpx.AsyncClient) -> str:
    """A running experiment row to send events about (no orchestrator runs it)."""
    experiment_id = uuid.uuid4().hex
    with services(client).db.session() as session:
        session.add(
            Experiment(
                id=experiment_id,
                name=f"tries-{experiment_id[:8]}",
                status="RUNNING",
                config_format="yaml",
                config_path="x",
            )
        )
    return experiment_id


class Stage:
    """Events about one inference stage of ``experiment_id``, stamped one second apart."""

    def __init__(self, experiment_id: str) -> None:
        self.experiment_id = experiment_id
        self.ts = time.time() - 100

    def event(self, type_: EventType, **fields: Any) -> Event:
        self.ts += 1
        return Event(
            type=type_,
            topic=self.experiment_id,
            task_id="t-inference",
            run="r1",
            stage=StageName.INFERENCE,
            ts=self.ts,
            **fields,
        )

    def state(self, state: TaskState, **fields: Any) -> Event:
        return self.event(EventType.STATE, state=state, **fields)

    def log(self, message: str) -> Event:
        return self.event(EventType.LOG, message=message)


async def send(client: httpx.AsyncClient, events: list[Event], seen: int) -> None:
    """Publish ``events`` on the app's bus and wait until the recorder stored them (the
    experiment's ``last_seq`` grew by their number)."""
    bus = services(client).bus
    for event in events:
        bus.publish(event)
    deadline = time.monotonic() + 30
    while True:
        await services(client).recorder.wait_idle()
        body = (await client.get(f"/api/v1/experiments/{events[0].topic}")).json()
        if body["last_seq"] >= seen + len(events):
            return
        assert time.monotonic() < deadline, f"events not recorded: {body}"
        await asyncio.sleep(0.05)


def inference(body: dict[str, Any]) -> dict[str, Any]:
    stage: dict[str, Any] = body["runs"][0]["stages"][0]
    return stage


@pytest.mark.parametrize("bus", ["inprocess", "redis"])
async def test_a_retried_stage_shows_each_try_host_and_log(
    make_settings: Any, bus: str, request: pytest.FixtureRequest
) -> None:
    redis = request.getfixturevalue("redis_url") if bus == "redis" else None
    settings = make_settings(redis_url=redis)
    async with api_client(settings) as client:
        experiment_id = add_experiment(client)
        stage = Stage(experiment_id)
        url = f"/api/v1/experiments/{experiment_id}"
        first = [
            stage.state(TaskState.QUEUED),
            stage.state(TaskState.RUNNING, attempt=0),  # the scheduler starts the try
            stage.state(TaskState.RUNNING, attempt=0, host="a", gpu_ids=["0"]),  # placed
            stage.log("loading model on a"),
        ]
        await send(client, first, 0)
        running = inference((await client.get(url)).json())
        assert running["state"] == "RUNNING"
        assert (running["attempt"], running["host"], running["gpu_ids"]) == (0, "a", ["0"])
        assert running["max_attempts"] is None

        second = [
            stage.state(TaskState.RUNNING, attempt=1, message=RETRY),
            stage.state(TaskState.RUNNING, attempt=1, host="b", gpu_ids=["1"]),
            stage.log("answered 1/1"),
            stage.state(TaskState.COMPLETED, message="1 sample"),
        ]
        await send(client, second, len(first))
        body = (await client.get(url)).json()
        done = inference(body)
        assert done["state"] == "COMPLETED"
        assert (done["attempt"], done["max_attempts"], done["host"], done["gpu_ids"]) == (
            1,
            3,
            "b",
            ["1"],
        )
        assert done["started_at"] is not None, "retries keep the stage's start"

        tries = (await client.get(f"{url}/stages/t-inference/attempts")).json()
        assert tries["stage"] == "inference" and tries["run_name"] == "r1"
        assert [
            (t["attempt"], t["host"], t["gpu_ids"], t["state"], t["message"])
            for t in tries["attempts"]
        ] == [(0, "a", ["0"], "FAILED", RETRY), (1, "b", ["1"], "COMPLETED", "1 sample")]
        assert all(t["finished_at"] for t in tries["attempts"])
        assert tries["attempts"][0]["finished_at"] <= tries["attempts"][1]["started_at"]

        logs = (await client.get(f"{url}/stages/t-inference/logs")).json()
        assert [line["message"] for line in logs["lines"]] == ["loading model on a", "answered 1/1"]
        assert logs["file_url"] is None and logs["file_tail"] == []
        log_file = settings.runs_dir / body["name"] / "r1" / "logs" / "inference.log"
        log_file.parent.mkdir(parents=True)
        log_file.write_text("".join(f"line {i}\n" for i in range(300)))
        logs = (await client.get(f"{url}/stages/t-inference/logs", params={"limit": 2})).json()
        assert [line["message"] for line in logs["lines"]] == ["loading model on a", "answered 1/1"]
        assert logs["file_tail"] == ["line 298", "line 299"]
        served = await client.get(logs["file_url"])
        assert served.status_code == 200 and served.text.startswith("line 0\n")

        missing = await client.get(f"{url}/stages/nope/attempts")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_a_rerun_starts_the_history_over_and_an_interrupt_ends_the_try(
    make_settings: Any,
) -> None:
    async with api_client(make_settings()) as client:
        experiment_id = add_experiment(client)
        stage = Stage(experiment_id)
        url = f"/api/v1/experiments/{experiment_id}"
        await send(
            client,
            [
                stage.state(TaskState.RUNNING, attempt=0, host="a"),
                stage.state(TaskState.RUNNING, attempt=1, message=RETRY),
                stage.state(TaskState.FAILED, message="agent b: engine failure"),
                stage.state(TaskState.PENDING),  # rerun
                stage.state(TaskState.RUNNING, attempt=0),  # the local executor: no host
            ],
            0,
        )
        again = inference((await client.get(url)).json())
        assert (again["attempt"], again["max_attempts"], again["host"]) == (0, None, None)
        tries = (await client.get(f"{url}/stages/t-inference/attempts")).json()["attempts"]
        assert [(t["attempt"], t["state"], t["host"]) for t in tries] == [(0, "RUNNING", None)]

        services(client).recorder.set_status(
            experiment_id, ExperimentStatus.INTERRUPTED, "the server stopped"
        )
        await services(client).recorder.wait_idle()
        tries = (await client.get(f"{url}/stages/t-inference/attempts")).json()["attempts"]
        assert [(t["state"], t["message"]) for t in tries] == [
            ("INTERRUPTED", "the server stopped")
        ]
        assert tries[0]["finished_at"] is not None
