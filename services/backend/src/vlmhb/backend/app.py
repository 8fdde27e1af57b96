"""The FastAPI application: settings checked, routers (``api.routers``), middleware, the web
UI, and the lifespan that runs the process's services (``lifespan``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from vlmhb.backend import __version__
from vlmhb.backend.api.routers import include_routers
from vlmhb.backend.api.security import BodyLimit
from vlmhb.backend.api.validation import install_validation_errors
from vlmhb.backend.api.web import DOCS_ASSETS, mount_web
from vlmhb.backend.guards import BrowserGuard, install_log_filter
from vlmhb.backend.lifespan import running_services
from vlmhb.backend.openapi import install_state_schemas
from vlmhb.backend.settings import LOOPBACK_HOSTS, BackendSettings


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

    app = FastAPIOffline(  # /docs and /redoc with their assets served here, never a CDN
        static_url=DOCS_ASSETS,
        title="VLMHyperBench management API",
        version=__version__,
        lifespan=lifespan,
        description="Submit and follow VLM benchmark experiments; browse samples "
        "and analytics. See docs/backend.md.",
    )
    include_routers(app)
    install_validation_errors(app)
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
