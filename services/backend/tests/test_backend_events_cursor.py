"""The backend's Redis cursor: events published while the backend is down (or before its
listener starts) are applied at the next start, before startup recovery looks at states."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from vlmhb_backend_testkit import api_client
from vlmhb_orchestrator_testkit import free_port

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import Experiment
from vlmhb.core.contracts import Event, EventType, TaskState
from vlmhb.orchestrator.app import create_orchestrator_app
from vlmhb.orchestrator.redis_bus import RedisEventBus

ORCH_TOKEN = "cursor-test-orchestrator-token-01234"


def _add_running(settings: Any) -> str:
    """An experiment row left RUNNING (as a stopped backend leaves it)."""
    exp_id = f"cur{secrets.token_hex(4)}"
    db = Database(settings.resolved().url)
    with db.session() as session:
        session.add(
            Experiment(
                id=exp_id,
                name=exp_id,
                status="RUNNING",
                message="",
                config_format="yaml",
                config_path="x",
                models="",
            )
        )
    db.dispose()
    return exp_id


async def _publish_while_down(redis_url: str, exp_id: str) -> None:
    bus = RedisEventBus(redis_url)
    bus.publish(Event(type=EventType.STATE, topic=exp_id, state=TaskState.COMPLETED))
    assert await bus.flush()
    await bus.aclose()


@asynccontextmanager
async def _orchestrator(tmp_path: Path, redis_url: str) -> AsyncIterator[str]:
    """A real orchestrator service on 127.0.0.1 (it knows no experiment)."""
    port = free_port()
    app = create_orchestrator_app(redis_url, tmp_path / "orch-runs", ORCH_TOKEN)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "orchestrator did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_events_published_while_the_backend_was_down_are_applied(
    make_settings: Any, redis_url: str
) -> None:
    """Split mode, orchestrator unreachable (recovery leaves the experiment alone): the
    COMPLETED published while the backend was stopped is applied at the next start."""
    settings = make_settings(
        redis_url=redis_url, orchestrator_url=f"http://127.0.0.1:{free_port()}"
    )
    async with api_client(settings):
        pass  # first start: migrates, stores the cursor at the end of the stream
    exp_id = _add_running(settings)
    await _publish_while_down(redis_url, exp_id)
    async with api_client(settings) as client:
        body = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
    assert body["status"] == "COMPLETED", body


async def test_backlog_is_applied_before_startup_recovery(
    make_settings: Any, redis_url: str, tmp_path: Path
) -> None:
    """The orchestrator no longer runs the experiment, which completed while the backend
    was down: recovery must see COMPLETED (from the backlog), not mark it INTERRUPTED."""
    async with _orchestrator(tmp_path, redis_url) as orchestrator_url:
        settings = make_settings(
            redis_url=redis_url, orchestrator_url=orchestrator_url, orchestrator_token=ORCH_TOKEN
        )
        async with api_client(settings):
            pass
        exp_id = _add_running(settings)
        await _publish_while_down(redis_url, exp_id)
        async with api_client(settings) as client:
            await asyncio.sleep(0.5)  # anything still queued would land now
            body = (await client.get(f"/api/v1/experiments/{exp_id}")).json()
    assert body["status"] == "COMPLETED", body
