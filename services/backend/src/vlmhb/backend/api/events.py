"""Live events: WebSocket ``/api/v1/ws/{id}`` and its SSE twin
``/api/v1/experiments/{id}/events``.

Protocol (JSON text messages): first ``{"type": "snapshot", "seq": N, "experiment":
<ExperimentDetail>}`` read from the database, then, with ``since=<seq>``, the stored events
after ``since`` up to N, then live ``{"type": "event", "seq": n, "experiment_status": ...,
"event": {...}}`` messages with increasing ``seq`` > N. A client that falls
``VLMHB_WS_QUEUE_SIZE`` messages behind is disconnected (WebSocket close code 1013, SSE
stream end) and resumes by reconnecting with ``since=<last seq it got>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from vlmhb.backend.api.deps import ExperimentDep, ServicesDep
from vlmhb.backend.api.security import token_ok
from vlmhb.backend.crud.events import REPLAY_PAGE, events_after
from vlmhb.backend.crud.experiments import detail
from vlmhb.backend.events.hub import CLOSE, Client
from vlmhb.backend.schemas import INVALID, NOT_FOUND, SECURED_RESPONSES
from vlmhb.backend.services import Services, services_of

router = APIRouter(tags=["events"], responses={**SECURED_RESPONSES, **INVALID})
ws_router = APIRouter()
KEEPALIVE_S = 15.0
SLOW_CLIENT = 1013
UNKNOWN_EXPERIMENT = 4404
UNAUTHORIZED = 4401
MAX_SEQ = 2**31 - 1  # events.seq is a 32-bit integer column
# one server-sent event (before OpenAPI 3.2 the schema describes each event of the stream)
SSE_EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "its seq"},
        "event": {"type": "string", "enum": ["snapshot", "event"]},
        "data": {"type": "string", "description": "the message, as JSON"},
    },
}


def snapshot(services: Services, experiment_id: str) -> tuple[int, str] | None:
    """``(seq, snapshot message)`` from the database, or None when unknown."""
    with services.db.session() as session:
        state = detail(session, experiment_id)
    if state is None:
        return None
    text = json.dumps(
        {"type": "snapshot", "seq": state.last_seq, "experiment": state.model_dump(mode="json")},
        ensure_ascii=False,
    )
    return state.last_seq, text


async def stream(
    services: Services, experiment_id: str, client: Client, since: int | None
) -> AsyncIterator[tuple[int, str] | None]:
    """Snapshot, replay after ``since``, then live messages; ``None`` means keepalive.
    Ends when the client falls behind (after a ``CLOSE``)."""
    snap = await run_in_threadpool(snapshot, services, experiment_id)
    if snap is None:
        return
    last, text = snap
    yield last, text
    if since is not None and since < last:
        cursor = since
        while True:
            rows = await run_in_threadpool(_replay, services, experiment_id, cursor, last)
            for seq, payload in rows:
                yield seq, payload
                cursor = seq
            if len(rows) < REPLAY_PAGE:
                break
    while True:
        try:
            message = await asyncio.wait_for(client.next(), KEEPALIVE_S)
        except TimeoutError:
            yield None
            continue
        if message is CLOSE:
            return
        if message.seq <= last:
            continue
        last = message.seq
        yield message.seq, message.text


def _replay(services: Services, experiment_id: str, after: int, upto: int) -> list[tuple[int, str]]:
    with services.db.session() as session:
        return events_after(session, experiment_id, after, upto)


@ws_router.websocket("/ws/{experiment_id}")
async def websocket_events(
    websocket: WebSocket,
    experiment_id: str,
    since: int | None = None,
    access_token: str | None = None,
) -> None:
    """Snapshot then live events of one experiment (see the module docs)."""
    services = services_of(websocket)
    await websocket.accept()
    if not token_ok(websocket, read_only=False, query_token=access_token):
        await websocket.close(UNAUTHORIZED, "missing or wrong bearer token")
        return
    if since is not None and not 0 <= since <= MAX_SEQ:
        since = None
    client = services.hub.register(experiment_id)
    receiver = asyncio.create_task(_drain_incoming(websocket))
    sender = asyncio.create_task(_send_all(websocket, services, experiment_id, client, since))
    try:
        await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        services.hub.unregister(client)
        for task in (receiver, sender):
            task.cancel()
        for task in (receiver, sender):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _send_all(
    websocket: WebSocket, services: Services, experiment_id: str, client: Client, since: int | None
) -> None:
    sent_any = False
    try:
        async for item in stream(services, experiment_id, client, since):
            if item is None:
                continue
            await websocket.send_text(item[1])
            sent_any = True
        if not sent_any:
            await websocket.close(UNKNOWN_EXPERIMENT, "experiment not found")
        else:
            await websocket.close(SLOW_CLIENT, "client too slow: reconnect with since=<seq>")
    except (WebSocketDisconnect, RuntimeError):
        pass


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@router.get(
    "/experiments/{experiment_id}/events",
    responses={
        200: {
            "description": "the event stream",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **NOT_FOUND,
    },
    response_class=StreamingResponse,
)
async def sse_events(
    experiment: ExperimentDep,
    request: Request,
    services: ServicesDep,
    since: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    last_event_id: Annotated[
        str,
        Header(
            max_length=20,
            description="the last `id:` received (browsers resend it on "
            "reconnect); anything but a seq number is ignored",
        ),
    ] = "",
) -> StreamingResponse:
    """Server-sent events twin of the WebSocket: ``event: snapshot`` then ``event:
    event`` messages with ``id: <seq>`` (``since`` or ``Last-Event-ID`` resumes)."""
    experiment_id = experiment.id
    client = services.hub.register(experiment_id)
    start = since if since is not None else _seq(last_event_id)

    async def body() -> AsyncIterator[str]:
        first = True
        try:
            async for item in stream(services, experiment_id, client, start):
                if await request.is_disconnected():
                    return
                if item is None:
                    yield ": keepalive\n\n"
                    continue
                kind = "snapshot" if first else "event"
                first = False
                yield f"id: {item[0]}\nevent: {kind}\ndata: {item[1]}\n\n"
        finally:
            services.hub.unregister(client)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _seq(value: str) -> int | None:
    """A ``Last-Event-ID`` as a seq number, or None when it is not one."""
    text = value.strip()
    if text.isascii() and text.isdigit() and int(text) <= MAX_SEQ:
        return int(text)
    return None
