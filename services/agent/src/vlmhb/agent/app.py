"""The agent's FastAPI app: ``/health`` open, every other route behind the bearer token.

At start it removes the containers an earlier run of an agent with the same name left
(``vlmhb.agent=<name>`` whose agent process is gone) and starts heartbeats when Redis is
configured; at shutdown it stops its stages (their containers with them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import requests
from docker.errors import DockerException
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from vlmhb.agent import routes_docker, routes_stages
from vlmhb.agent.auth import bearer_guard
from vlmhb.agent.heartbeat import beat_forever
from vlmhb.agent.metrics import agent_gauges
from vlmhb.agent.state import AgentState
from vlmhb.agent.wire import AGENT_LABEL, Health
from vlmhb.containers.docker_env.orphans import remove_orphans
from vlmhb.core.metrics import METRICS_CONTENT_TYPE, exposition, new_registry

log = logging.getLogger("vlmhb.agent")


def remove_leftovers(state: AgentState) -> list[str]:
    """Remove containers of an earlier run of this agent (its process gone); their ids.
    Without an engine there is nothing to remove: logged, not an error."""
    try:
        client = state.docker()
        verdicts = remove_orphans(client, {AGENT_LABEL: state.settings.name})
    except (DockerException, requests.RequestException) as exc:
        log.warning("no Docker engine answers (%s): docker stages will fail", exc)
        return []
    return [v.id for v in verdicts if v.orphan]


def create_agent_app(
    state: AgentState, token: str, on_ready: Callable[[], None] | None = None
) -> FastAPI:
    """The app serving ``state``; ``token`` guards every route but ``/health``;
    ``on_ready`` is called once start-up is done."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        removed = await asyncio.to_thread(remove_leftovers, state)
        if removed:
            log.info("removed %d container(s) an earlier run left", len(removed))
        beats = None
        if state.settings.redis_url:
            beats = asyncio.create_task(
                beat_forever(
                    state.settings.redis_url,
                    state.settings.name,
                    state.settings.heartbeat_s,
                    state.heartbeat,
                )
            )
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            if beats is not None:
                beats.cancel()
                await asyncio.gather(beats, return_exceptions=True)
            await state.runner.shutdown()
            state.close()

    app = FastAPI(title="vlmhb agent", version=state.version, lifespan=lifespan)
    app.state.agent = state

    @app.get("/health")
    def health() -> Health:
        return state.health()

    guard = [Depends(bearer_guard(token))]
    registry = new_registry(agent_gauges(state))

    @app.get("/metrics", dependencies=guard)
    def metrics() -> Response:
        """Prometheus text (``docs/operations.md``); the token is needed, as elsewhere."""
        return Response(exposition(registry), media_type=METRICS_CONTENT_TYPE)

    app.include_router(routes_stages.router, dependencies=guard)
    app.include_router(routes_docker.router, dependencies=guard)

    @app.exception_handler(DockerException)
    @app.exception_handler(requests.ConnectionError)
    async def engine_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"the Docker engine is unavailable: {exc}"}, status_code=503)

    return app
