"""The FastAPI application: API routes, lifespan wiring of DB, bus, recorder and runner."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import select
from sqlalchemy.engine import make_url

from vlmhb.backend import __version__
from vlmhb.backend.api import (
    analytics,
    auth,
    events,
    experiments,
    metrics_schema,
    samples,
    system,
)
from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import upgrade
from vlmhb.backend.db.models import Experiment
from vlmhb.backend.events.hub import Hub
from vlmhb.backend.events.recorder import Recorder
from vlmhb.backend.guards import BrowserGuard, install_log_filter
from vlmhb.backend.openapi import install_state_schemas
from vlmhb.backend.runner.base import EmbeddedRunner, Runner
from vlmhb.backend.runner.remote import RemoteRunner
from vlmhb.backend.security import BodyLimit, bearer_dependency
from vlmhb.backend.services import Services
from vlmhb.backend.settings import LOOPBACK_HOSTS, BackendSettings
from vlmhb.backend.states import ACTIVE, ExperimentStatus
from vlmhb.backend.web import mount_web
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.orchestrator.local import LocalRunner
from vlmhb.orchestrator.redis_bus import RedisEventBus
from vlmhb.orchestrator.settings import submission_policy
from vlmhb.orchestrator.tokens import load_or_create_token

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
# the only routes where ``?access_token=`` counts: a header is impossible there
QUERY_TOKEN_ENDPOINTS = (events.sse_events, samples.sample_image, system.artifact)


def create_app(settings: BackendSettings | None = None) -> FastAPI:
    """The backend app. Embedded orchestrator unless ``orchestrator_url`` is set; Redis
    events when ``redis_url`` is set; the database is migrated at startup. Auth is on:
    without ``auth_token`` the token stored in the data folder is used (generated on
    first start), unless ``no_auth`` (loopback ``host`` only)."""
    settings, _ = (settings or BackendSettings()).resolved().with_token()
    if settings.no_auth and settings.host not in LOOPBACK_HOSTS:
        raise ValueError(f"no_auth is only allowed on a loopback address, not {settings.host}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_filter()
        async with running_services(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="VLMHyperBench management API",
        version=__version__,
        lifespan=lifespan,
        description="Submit and follow VLM benchmark experiments; browse samples "
        "and analytics. See docs/backend.md.",
    )
    api = APIRouter(prefix=API_PREFIX, dependencies=[bearer_dependency(QUERY_TOKEN_ENDPOINTS)])
    for module in (experiments, samples, metrics_schema, analytics, events, system, auth):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(system.public, prefix=API_PREFIX)
    app.include_router(auth.public, prefix=API_PREFIX)
    app.include_router(events.ws_router, prefix=API_PREFIX)
    app.include_router(events.ws_router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(
        BrowserGuard, allowed_hosts=settings.allowed_hosts, trusted_origins=settings.cors_origins
    )  # outermost: checked first
    mount_web(app)
    install_state_schemas(app)
    return app


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


@asynccontextmanager
async def running_services(settings: BackendSettings) -> AsyncIterator[Services]:
    await run_in_threadpool(upgrade, settings.url)
    db = Database(settings.url)
    hub = Hub(settings.ws_queue_size)
    recorder = Recorder(db, hub, settings.runs_dir)
    recorder.start()
    listener: asyncio.Task[None] | None = None
    bus: InProcessEventBus | RedisEventBus
    if settings.redis_url:
        bus = RedisEventBus(settings.redis_url)
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
    else:
        bus = InProcessEventBus()
        bus.add_listener(recorder.enqueue)
    runner: Runner
    if settings.orchestrator_url:
        runner = RemoteRunner(settings.orchestrator_url, orchestrator_token(settings))
    else:
        runner = EmbeddedRunner(
            LocalRunner(bus, settings.runs_dir, policy=submission_policy(settings))
        )
    services = Services(
        settings, db, hub, recorder, runner, "redis" if settings.redis_url else "inprocess", bus
    )
    await recover(services)
    try:
        yield services
    finally:
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
        return list(
            session.scalars(
                select(Experiment.id).where(Experiment.status.in_([s.value for s in ACTIVE]))
            )
        )
