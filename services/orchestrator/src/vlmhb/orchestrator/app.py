"""The orchestrator as its own HTTP service (``vlmhb orchestrator``) for the split mode.

``POST /run`` starts an experiment from a config path the backend stored (shared
folder), ``POST /cancel/{id}``, ``GET /status/{id}``, ``GET /resources``, ``GET /metrics``
(Prometheus text), ``GET /health``
(routes in ``vlmhb.orchestrator.routes``). Events go out on Redis; the backend persists
them. A bearer token is required on every route but ``/health`` (``VLMHB_AUTH_TOKEN``,
else the one generated into the data folder it shares with the backend);
``vlmhb orchestrator`` binds 127.0.0.1 by default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException

from vlmhb.core import __version__
from vlmhb.orchestrator.local import LocalRunner
from vlmhb.orchestrator.redis_bus import RedisEventBus
from vlmhb.orchestrator.routes import public, runs
from vlmhb.orchestrator.tokens import check_token, same_secret


def bearer_auth(token: str) -> Callable[..., Awaitable[None]]:
    """A dependency that answers 401 unless ``Authorization: Bearer <token>``."""

    async def auth(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(value.strip(), token):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return auth


def create_orchestrator_app(redis_url: str, runs_dir: Path, token: str) -> FastAPI:
    """The orchestrator app; ``token`` (at least 16 characters) is required."""
    token = check_token(token or "", "the orchestrator token")
    runs_dir = runs_dir.expanduser().resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = RedisEventBus(redis_url)
        app.state.bus = bus
        app.state.runner = LocalRunner(bus, runs_dir)
        try:
            yield
        finally:
            await app.state.runner.shutdown()
            await bus.aclose()

    app = FastAPI(title="VLMHyperBench orchestrator", version=__version__, lifespan=lifespan)
    app.include_router(runs, dependencies=[Depends(bearer_auth(token))])
    app.include_router(public)
    return app
