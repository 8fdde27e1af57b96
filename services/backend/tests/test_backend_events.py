"""Events: the fan-out hub, the Redis bus on a real Redis, persistence order, and a
WebSocket client that sees every state change of a real experiment in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import select
from vlmhb_backend_testkit import AUTH, experiment_yaml

from vlmhb.backend.app import create_app
from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import EventRow
from vlmhb.backend.events.hub import CLOSE, Hub, Message
from vlmhb.core.contracts import Event, EventType, TaskState

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"}


async def test_hub_disconnects_only_the_slow_client() -> None:
    hub = Hub(queue_size=16)
    fast, slow = hub.register("exp"), hub.register("exp")
    other = hub.register("other")
    everything = hub.register("*")
    received: list[int] = []
    for seq in range(1, 101):
        hub.broadcast("exp", Message(seq, str(seq)))
        received.append((await fast.next()).seq)  # the fast client keeps up
        if seq % 10 == 0:
            while not everything.queue.empty():
                everything.queue.get_nowait()
    assert received == list(range(1, 101))
    assert slow.overflowed and slow.dropped_at == 17
    assert await slow.next() is CLOSE  # told to reconnect with since=<seq>
    assert other.queue.empty() and not everything.overflowed
    hub.unregister(slow)
    assert hub.client_count == 3


async def _collect_ws(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with aconnect_ws(url, client) as ws:
        while True:
            message = json.loads(await ws.receive_text())
            messages.append(message)
            status = (
                message.get("experiment_status")
                if message["type"] == "event"
                else message["experiment"]["status"]
            )
            if status in TERMINAL:
                return messages


def _state_sequence(messages: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per task id (``experiment`` for experiment-level news) the states in order."""
    states: dict[str, list[str]] = {}
    for message in messages:
        event = message.get("event")
        if not event or event["type"] not in ("state", "status"):
            continue
        states.setdefault(event.get("task_id") or "experiment", []).append(event["state"])
    return states


async def _ws_experiment(make_settings: Any, dataset: Path, redis: str | None) -> None:
    settings = make_settings(redis_url=redis)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGIWebSocketTransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=AUTH
        ) as client:
            response = await client.post(
                "/api/v1/experiments",
                content=experiment_yaml(dataset, "ws").encode(),
                headers={"content-type": "application/yaml"},
            )
            exp_id = response.json()["id"]
            replayed = await _collect_ws(client, f"http://test/api/v1/ws/{exp_id}?since=0")
            late = await _collect_ws(client, f"http://test/ws/{exp_id}")
    snapshot, events = replayed[0], replayed[1:]
    assert snapshot["type"] == "snapshot"
    seqs = [m["seq"] for m in events]
    assert seqs == sorted(set(seqs))
    db = Database(settings.resolved().url)
    with db.session() as session:
        stored = [
            json.loads(p)
            for p in session.scalars(
                select(EventRow.payload)
                .where(EventRow.experiment_id == exp_id)
                .order_by(EventRow.seq)
            )
        ]
    db.dispose()
    assert [m["seq"] for m in events] == [m["seq"] for m in stored]  # every event, in order
    states = _state_sequence(events)
    assert states.pop("experiment") == ["ACCEPTED", "RUNNING", "COMPLETED"]
    assert len(states) == 4  # inference, evaluation, report, experiment report
    for sequence in states.values():
        assert sequence == ["PENDING", "QUEUED", "RUNNING", "COMPLETED"]
    progress = [m["event"] for m in events if m["event"]["type"] == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"]
    # a late client gets the final state as a snapshot
    assert late[0]["type"] == "snapshot" and late[0]["experiment"]["status"] == "COMPLETED"
    assert late[0]["seq"] == stored[-1]["seq"]


async def test_websocket_sees_every_state_change(make_settings: Any, dataset: Path) -> None:
    await _ws_experiment(make_settings, dataset, None)


async def test_websocket_over_redis_bus(make_settings: Any, dataset: Path, redis_url: str) -> None:
    await _ws_experiment(make_settings, dataset, redis_url)


async def test_websocket_unknown_experiment(make_settings: Any) -> None:
    app = create_app(make_settings())
    async with app.router.lifespan_context(app):
        transport = ASGIWebSocketTransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as client,
            aconnect_ws("http://test/api/v1/ws/nope", client) as ws,
        ):
            with pytest.raises(Exception) as caught:  # httpx_ws.WebSocketDisconnect
                await ws.receive_text()
            assert getattr(caught.value, "code", None) == 4404


async def test_recorder_marks_open_stages_on_cancel(make_settings: Any) -> None:
    """Experiment-level CANCELLED ends stages that were still open."""
    from vlmhb.backend.db.models import Experiment, StageTaskRow
    from vlmhb.backend.events.recorder import Recorder

    settings = make_settings().resolved()
    from vlmhb.backend.db.migrate import upgrade

    upgrade(settings.url)
    db = Database(settings.url)
    with db.session() as session:
        session.add(
            Experiment(
                id="e1",
                name="e1",
                status="RUNNING",
                message="",
                config_format="yaml",
                config_path="x",
                models="",
            )
        )
    recorder = Recorder(db, Hub(), settings.runs_dir)
    events = [
        Event(
            type=EventType.STATE,
            topic="e1",
            task_id=f"t{i}",
            run="r",
            stage=stage,
            state=TaskState.PENDING,
        )
        for i, stage in enumerate(["inference", "evaluation"])
    ]
    events.append(
        Event(
            type=EventType.STATE,
            topic="e1",
            task_id="t0",
            run="r",
            stage="inference",
            state=TaskState.COMPLETED,
        )
    )
    events.append(Event(type=EventType.STATE, topic="e1", state=TaskState.CANCELLED))
    messages = recorder.persist(list(events))
    assert [json.loads(m.text)["experiment_status"] for _, m in messages][-1] == "CANCELLED"
    with db.session() as session:
        states = dict(session.execute(select(StageTaskRow.task_id, StageTaskRow.state)).all())
        experiment = session.get(Experiment, "e1")
        assert experiment is not None and experiment.progress == 1.0
    assert states == {"t0": "COMPLETED", "t1": "CANCELLED"}
    db.dispose()
