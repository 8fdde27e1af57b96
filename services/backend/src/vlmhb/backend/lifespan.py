"""What one backend process runs while it serves: the migrated database, the recorder,
the event bus (in-process, or Redis read with a stored cursor), the runner (embedded or
the orchestrator service), and the startup recovery of experiments left active."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from vlmhb.backend.crud import experiments as crud
from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import upgrade
from vlmhb.backend.events.hub import Hub
from vlmhb.backend.events.recorder import Recorder
from vlmhb.backend.hosts.health import HealthMonitor
from vlmhb.backend.hosts.jobs import HostJobs
from vlmhb.backend.metrics import backend_registry
from vlmhb.backend.results_mirror import ResultsMirror
from vlmhb.backend.runner.base import EmbeddedRunner, Runner
from vlmhb.backend.runner.remote import RemoteRunner
from vlmhb.backend.services import Services
from vlmhb.backend.settings import BackendSettings
from vlmhb.backend.states import ExperimentStatus
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.orchestrator.local import LocalRunner
from vlmhb.orchestrator.redis_bus import RedisEventBus
from vlmhb.orchestrator.settings import submission_policy
from vlmhb.orchestrator.tokens import load_or_create_token


def orchestrator_token(settings: BackendSettings) -> str:
    """What ``vlmhb backend`` sends to the orchestrator: ``orchestrator_token``, else the
    API token, else the token stored in the (shared) data folder."""
    if settings.orchestrator_token or settings.auth_token:
        return settings.orchestrator_token or settings.auth_token or ""
    return load_or_create_token(settings.data_dir)[0]


def consumer_name(settings: BackendSettings) -> str:
    """The backend's Redis cursor name: one per database (what it has persisted), so a
    restarted backend resumes where it stopped and another database starts fresh."""
    url = make_url(settings.url).render_as_string(hide_password=True)
    return f"backend-{hashlib.sha256(url.encode()).hexdigest()[:16]}"


async def _listen_redis(
    settings: BackendSettings, bus: RedisEventBus, recorder: Recorder
) -> asyncio.Task[None]:
    """Start the Redis listener; returns once its backlog is in the database (raises
    when Redis is unreachable)."""
    assert settings.redis_url is not None
    ready = asyncio.Event()
    listener = asyncio.create_task(
        bus.listen(
            recorder.enqueue,
            ready,
            consumer=consumer_name(settings),
            checkpoint=recorder.wait_idle,  # the cursor moves past persisted events only
        )
    )
    await asyncio.wait(
        {listener, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    if listener.done():
        listener.result()  # raises the connection error
    await recorder.wait_idle()  # the backlog is in the database before recovery
    return listener


def _runner(settings: BackendSettings, bus: InProcessEventBus | RedisEventBus) -> Runner:
    if settings.orchestrator_url:
        return RemoteRunner(settings.orchestrator_url, orchestrator_token(settings))
    return EmbeddedRunner(
        LocalRunner(bus, settings.runs_dir, settings=settings, policy=submission_policy(settings))
    )


@asynccontextmanager
async def running_services(settings: BackendSettings) -> AsyncIterator[Services]:
    """The process's ``Services`` from startup (migrations, bus, recovery) to shutdown
    (runner stopped, events flushed and persisted, connections closed)."""
    await run_in_threadpool(upgrade, settings.url)
    db = Database(settings.url)
    hub = Hub(settings.ws_queue_size)
    recorder = Recorder(db, hub, settings.runs_dir)
    recorder.start()
    listener: asyncio.Task[None] | None = None
    bus: InProcessEventBus | RedisEventBus
    if settings.redis_url:
        bus = RedisEventBus(settings.redis_url)
        listener = await _listen_redis(settings, bus, recorder)
    else:
        bus = InProcessEventBus()
        bus.add_listener(recorder.enqueue)
    runner = _runner(settings, bus)
    mirror = ResultsMirror(
        settings.runs_dir, submission_policy(settings), settings.results_refresh_s
    )
    bus_kind = "redis" if settings.redis_url else "inprocess"
    host_jobs = HostJobs(db, settings)
    await run_in_threadpool(host_jobs.recover)
    health = HealthMonitor(db, settings)
    services = Services(
        settings,
        db,
        hub,
        recorder,
        runner,
        bus_kind,
        bus,
        mirror,
        host_jobs,
        health,
        backend_registry(db, runner),
    )
    await recover(services)
    monitor = asyncio.create_task(health.run_forever())
    try:
        yield services
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        await run_in_threadpool(host_jobs.shutdown)
        await runner.shutdown()
        if runner.mode == "embedded":
            await mark_interrupted(services, "the server stopped while it ran")
        if isinstance(bus, RedisEventBus):
            await bus.flush()
        await recorder.wait_idle()
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        await recorder.stop()
        if isinstance(bus, RedisEventBus):
            await bus.aclose()
        db.dispose()


async def recover(services: Services) -> None:
    """At startup: experiments left active by a previous process become INTERRUPTED
    (embedded mode), or when the orchestrator no longer knows them (split mode)."""
    if services.runner.mode == "embedded":
        await mark_interrupted(services, "the server stopped while it ran; rerun to resume")
        return
    for experiment_id in await run_in_threadpool(_active_ids, services):
        if await services.runner.is_active(experiment_id) is False:
            services.recorder.set_status(
                experiment_id,
                ExperimentStatus.INTERRUPTED,
                "the orchestrator no longer runs it; rerun to resume",
            )
    await services.recorder.wait_idle()


async def mark_interrupted(services: Services, message: str) -> None:
    for experiment_id in await run_in_threadpool(_active_ids, services):
        services.recorder.set_status(experiment_id, ExperimentStatus.INTERRUPTED, message)
    await services.recorder.wait_idle()


def _active_ids(services: Services) -> list[str]:
    with services.db.session() as session:
        return crud.active_ids(session)
