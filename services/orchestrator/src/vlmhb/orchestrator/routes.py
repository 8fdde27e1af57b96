"""The orchestrator service's routes: ``POST /run``, ``POST /cancel/{id}``,
``GET /status/{id}``, ``GET /resources``, ``GET /metrics`` (``runs``, bearer token) and
``GET /health`` (``public``). The app (``vlmhb.orchestrator.app``) puts
``app.state.runner`` and ``app.state.bus`` in place."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from vlmhb.core import __version__
from vlmhb.core.metrics import METRICS_CONTENT_TYPE, exposition, new_registry
from vlmhb.orchestrator.local import AlreadyRunning, LocalRunner
from vlmhb.orchestrator.redis_bus import RedisEventBus


class RunRequest(BaseModel):
    experiment_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    config_path: str
    force: bool = False


class RunStatus(BaseModel):
    experiment_id: str
    active: bool
    state: str


def get_runner(request: Request) -> LocalRunner:
    """The app's runner (a FastAPI dependency)."""
    runner: LocalRunner = request.app.state.runner
    return runner


RunnerDep = Annotated[LocalRunner, Depends(get_runner)]
runs = APIRouter()
public = APIRouter()


@runs.post("/run", status_code=202, response_model=RunStatus)
async def run(body: RunRequest, runner: RunnerDep) -> RunStatus:
    path = Path(body.config_path)
    if not path.exists():
        raise HTTPException(422, f"config {path} not found on the orchestrator host")
    try:
        runner.submit(body.experiment_id, path, body.force)
    except AlreadyRunning:
        raise HTTPException(409, "already running") from None
    return RunStatus(experiment_id=body.experiment_id, active=True, state="ACCEPTED")


@runs.post("/cancel/{experiment_id}", status_code=202, response_model=RunStatus)
async def cancel(experiment_id: str, runner: RunnerDep) -> RunStatus:
    if not runner.cancel(experiment_id):
        raise HTTPException(404, "not running here")
    return RunStatus(experiment_id=experiment_id, active=True, state="CANCELLING")


@runs.get("/status/{experiment_id}", response_model=RunStatus)
async def status(experiment_id: str, runner: RunnerDep) -> RunStatus:
    state = runner.last_state.get(experiment_id)
    if state is None:
        raise HTTPException(404, "unknown experiment")
    return RunStatus(
        experiment_id=experiment_id, active=runner.is_active(experiment_id), state=state
    )


@runs.get("/resources")
async def resources(runner: RunnerDep) -> dict[str, Any]:
    return runner.snapshot()


@public.get("/health")
async def health(request: Request) -> dict[str, str]:
    bus: RedisEventBus = request.app.state.bus
    return {"status": "ok" if await bus.ping() else "degraded", "version": __version__}


@runs.get("/metrics")
async def metrics(runner: RunnerDep) -> Response:
    """Prometheus text (``docs/operations.md``)."""
    registry = new_registry(*runner.metric_collectors())
    return Response(exposition(registry), media_type=METRICS_CONTENT_TYPE)
