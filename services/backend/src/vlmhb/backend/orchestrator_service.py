"""The orchestrator as its own HTTP service (``vlmhb orchestrator``) for the split mode.

``POST /run`` starts an experiment from a config path the backend stored (shared
folder), ``POST /cancel/{id}``, ``GET /status/{id}``, ``GET /resources``, ``GET /health``.
Events go out on Redis pub/sub; the backend persists them. A bearer token is required on
every route but ``/health`` (``VLMHB_AUTH_TOKEN``, else the one generated into the data
folder it shares with the backend); ``vlmhb orchestrator`` binds 127.0.0.1 by default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from vlmhb.backend import __version__
from vlmhb.backend.events.redis_bus import RedisEventBus
from vlmhb.backend.runner.local import AlreadyRunning, LocalRunner
from vlmhb.backend.tokens import check_token, same_secret


class RunRequest(BaseModel):
    experiment_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    config_path: str
    force: bool = False


class RunStatus(BaseModel):
    experiment_id: str
    active: bool
    state: str


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

    async def auth(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(value.strip(), token):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    app = FastAPI(title="VLMHyperBench orchestrator", version=__version__, lifespan=lifespan)
    guarded = [Depends(auth)]

    def runner(request: Request) -> LocalRunner:
        local: LocalRunner = request.app.state.runner
        return local

    @app.post("/run", status_code=202, dependencies=guarded, response_model=RunStatus)
    async def run(body: RunRequest, request: Request) -> RunStatus:
        path = Path(body.config_path)
        if not path.exists():
            raise HTTPException(422, f"config {path} not found on the orchestrator host")
        try:
            runner(request).submit(body.experiment_id, path, body.force)
        except AlreadyRunning:
            raise HTTPException(409, "already running") from None
        return RunStatus(experiment_id=body.experiment_id, active=True, state="ACCEPTED")

    @app.post(
        "/cancel/{experiment_id}", status_code=202, dependencies=guarded, response_model=RunStatus
    )
    async def cancel(experiment_id: str, request: Request) -> RunStatus:
        if not runner(request).cancel(experiment_id):
            raise HTTPException(404, "not running here")
        return RunStatus(experiment_id=experiment_id, active=True, state="CANCELLING")

    @app.get("/status/{experiment_id}", dependencies=guarded, response_model=RunStatus)
    async def status(experiment_id: str, request: Request) -> RunStatus:
        local = runner(request)
        state = local.last_state.get(experiment_id)
        if state is None:
            raise HTTPException(404, "unknown experiment")
        return RunStatus(
            experiment_id=experiment_id, active=local.is_active(experiment_id), state=state
        )

    @app.get("/resources", dependencies=guarded)
    async def resources(request: Request) -> dict[str, Any]:
        return runner(request).snapshot()

    @app.get("/health")
    async def health(request: Request) -> dict[str, str]:
        bus: RedisEventBus = request.app.state.bus
        return {"status": "ok" if await bus.ping() else "degraded", "version": __version__}

    return app
