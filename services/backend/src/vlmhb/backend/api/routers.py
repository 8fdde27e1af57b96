"""The API's routers under ``/api/v1``: the guarded ones (bearer token or session
cookie; ``?access_token=`` only where a header is impossible), the open ones (health,
login) and the WebSocket (which checks its token itself)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from vlmhb.backend.api import (
    analytics,
    auth,
    catalog,
    events,
    examples,
    experiments,
    hosts,
    metrics,
    metrics_schema,
    samples,
    stages,
    system,
)
from vlmhb.backend.api.security import bearer_dependency

API_PREFIX = "/api/v1"
# the only routes where ``?access_token=`` counts: a header is impossible there
QUERY_TOKEN_ENDPOINTS = (events.sse_events, samples.sample_image, system.artifact)
GUARDED = (
    experiments,
    examples,
    stages,
    samples,
    metrics_schema,
    analytics,
    events,
    system,
    auth,
    hosts,
    catalog,
    metrics,
)


def include_routers(app: FastAPI) -> None:
    """Mount every API router on ``app``."""
    api = APIRouter(prefix=API_PREFIX, dependencies=[bearer_dependency(QUERY_TOKEN_ENDPOINTS)])
    for module in GUARDED:
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(system.public, prefix=API_PREFIX)
    app.include_router(auth.public, prefix=API_PREFIX)
    app.include_router(events.ws_router, prefix=API_PREFIX)
    app.include_router(events.ws_router)
