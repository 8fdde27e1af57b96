"""The API wrapper: an OpenAI-compatible HTTP server over one ``Backend``.

``create_app(backend, config)`` gives a FastAPI app with:

- ``POST /v1/chat/completions`` (streaming and not; images as ``data:`` or ``file://`` URLs),
- ``GET /v1/models``, ``GET /metrics`` (Prometheus text, see ``telemetry``),
- ``GET /health``: 200 ``{"status": "ok"}``, 503 ``loading``/``unloaded``, 500 ``failed``
  with the load error,
- ``POST /v1/model/load`` and ``POST /v1/model/unload``.

The backend is loaded in the background after start, so ``/health`` answers at once.
When ``ServerConfig.api_key`` is set (env ``VLMHB_API_KEY``) every path but ``/health``
needs ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the key is never logged.

Timing reported by the wrapper itself (milliseconds, measured inside this process):

- non-streamed: header ``x-vlmhb-server-latency-ms`` and body field
  ``vlmhb_timings = {"server_latency_ms": ...}``;
- streamed: header ``x-vlmhb-server-ttft-ms`` (time to the first chunk) and, with
  ``stream_options.include_usage``, the final usage chunk's
  ``vlmhb_timings = {"server_ttft_ms": ..., "server_latency_ms": ...}``.

Every reply carries ``usage`` (streamed: in the usage chunk when ``include_usage`` is asked,
as OpenAI does) and the header ``x-vlmhb-backend``; a request with ``response_format`` that
the backend ignores gets ``x-vlmhb-response-format: ignored``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.requests import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic_core import from_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vlmhb.core.metrics import METRICS_CONTENT_TYPE
from vlmhb.inference.backends.base import Backend, BackendError, GenerationRequest, StreamEnd
from vlmhb.inference.images import DEFAULT_MAX_IMAGE_BYTES, ImageError, ImagePolicy
from vlmhb.inference.protocol import (
    ChatRequest,
    UnsupportedParameterError,
    chunk_body,
    completion_body,
    completion_id,
    error_body,
    usage_dict,
)
from vlmhb.inference.telemetry import Telemetry

log = logging.getLogger("vlmhb.inference.server")
LATENCY_HEADER = "x-vlmhb-server-latency-ms"
TTFT_HEADER = "x-vlmhb-server-ttft-ms"
BACKEND_HEADER = "x-vlmhb-backend"
RESPONSE_FORMAT_HEADER = "x-vlmhb-response-format"
API_KEY_ENV = "VLMHB_API_KEY"
ALLOWED_ROOTS_ENV = "VLMHB_API_ALLOWED_ROOTS"
OPEN_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class ServerConfig:
    """Wrapper settings: API key, image policy and the memory sampling period."""

    api_key: str | None = field(default=None, repr=False)
    images: ImagePolicy = field(default_factory=ImagePolicy)
    sample_interval_s: float = 1.0

    @classmethod
    def from_env(
        cls, allowed_roots: list[Path] | None = None, max_image_bytes: int | None = None
    ) -> ServerConfig:
        """Key from ``VLMHB_API_KEY``; roots from ``VLMHB_API_ALLOWED_ROOTS``
        (``os.pathsep``-separated) plus ``allowed_roots``."""
        roots = [Path(p) for p in os.environ.get(ALLOWED_ROOTS_ENV, "").split(os.pathsep) if p]
        return cls(
            api_key=os.environ.get(API_KEY_ENV) or None,
            images=ImagePolicy(
                tuple(roots + list(allowed_roots or [])), max_image_bytes or DEFAULT_MAX_IMAGE_BYTES
            ),
        )


class BackendState:
    """Load status of the served backend: ``loading``, ``ok``, ``failed`` or ``unloaded``."""

    def __init__(self) -> None:
        self.status = "loading"
        self.error: str | None = None
        self.lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.status == "ok"

    async def load(self, backend: Backend) -> None:
        async with self.lock:
            if self.ready:
                return
            self.status, self.error = "loading", None
            log.info("loading backend %s", backend.name)
            try:
                await backend.load()
            except BackendError as exc:  # the backend's own, clear message: no traceback
                self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
                log.error("backend %s failed to load: %s", backend.name, exc)
                return
            except Exception as exc:
                self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("backend %s failed to load", backend.name)
                return
            self.status = "ok"
            log.info("backend %s ready", backend.name)

    async def unload(self, backend: Backend) -> None:
        async with self.lock:
            if self.ready:
                await backend.unload()
                log.info("backend %s unloaded", backend.name)
            self.status, self.error = "unloaded", None


class ApiKeyMiddleware:
    """Refuses requests without the API key (except ``OPEN_PATHS``) with an OpenAI 401."""

    def __init__(self, app: ASGIApp, api_key: str, telemetry: Telemetry) -> None:
        self.app = app
        self.key = api_key.encode()
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-api-key")
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        if given is None and scheme.lower() == b"bearer":
            given = token.strip()
        if given is not None and hmac.compare_digest(given, self.key):
            await self.app(scope, receive, send)
            return
        self.telemetry.auth_failed()
        message = (
            "invalid API key"
            if given
            else "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
        response = JSONResponse(
            error_body(message, "invalid_request_error", "invalid_api_key"),
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
        await response(scope, receive, send)


class JSONBodyRequest(Request):
    """A request whose JSON body pydantic's Rust parser reads (``json.loads`` takes ~8x as
    long on a page image's body); a body it refuses goes to ``json.loads``, so the values
    and the errors stay FastAPI's own."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = from_json(body, cache_strings=False)
            except ValueError:
                self._json = json.loads(body)
        return self._json


class JSONBodyRoute(APIRoute):
    """An ``APIRoute`` whose endpoints get a ``JSONBodyRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(JSONBodyRequest(request.scope, request.receive))

        return route_handler


class EventStream(Response):
    """A ``text/event-stream`` reply written straight to the ASGI ``send``: each item of
    ``events`` (SSE text) as it comes; the item ending in ``data: [DONE]`` also ends the body.

    A client that goes away stops the reply at once: a task waiting on ``receive()`` for
    the disconnect cancels the reply, which closes ``events`` and returns. (Starlette's
    ``StreamingResponse`` runs an anyio task group per reply for this: most of a request's
    CPU time in the wrapper.)"""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[str, None], headers: dict[str, str]) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)  # no body: no content-length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        live, gone = True, False

        def disconnected(watch: asyncio.Future[None]) -> None:
            nonlocal gone
            if not watch.cancelled():
                watch.exception()  # a failed receive counts as a disconnect too
            if live:
                gone = True
                task.cancel()

        watch = asyncio.ensure_future(_until_disconnect(receive))
        watch.add_done_callback(disconnected)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            more = True
            async for text in self.events:
                more = not text.endswith(DONE_EVENT)
                await send({"type": "http.response.body", "body": text.encode(), "more_body": more})
                if not more:
                    break
            if more:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone or task.uncancel():
                raise
        finally:
            live = False
            watch.cancel()
            await self.events.aclose()


async def _until_disconnect(receive: Receive) -> None:
    message: Message = {}
    while message.get("type") != "http.disconnect":
        message = await receive()


def _error(
    status: int, message: str, type_: str = "server_error", param: str | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, type_, status, param), status_code=status)


def _sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


DONE_EVENT = _sse("[DONE]")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            return f"request body is not valid JSON: {detail}".rstrip(": ")
        where = ".".join(str(p) for p in err.get("loc", ()))
        problems.append(f"{where}: {err.get('msg')}")
    return f"invalid request body: {'; '.join(problems)}"


def create_app(backend: Backend, config: ServerConfig | None = None) -> FastAPI:
    """FastAPI app serving ``backend``; loads it in the background on startup.
    ``config`` defaults to ``ServerConfig.from_env()``."""
    config = config or ServerConfig.from_env()
    state = BackendState()
    telemetry = Telemetry()
    model_name = backend.spec.model or backend.spec.name
    base_headers = {BACKEND_HEADER: backend.name}

    async def sample_memory() -> None:
        while True:
            telemetry.sample_memory()
            await asyncio.sleep(config.sample_interval_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(state.load(backend))
        sampler = asyncio.create_task(sample_memory())
        try:
            yield
        finally:
            for task in (loading, sampler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.unload(backend)

    app = FastAPI(title="VLMHyperBench API wrapper", lifespan=lifespan)
    app.router.route_class = JSONBodyRoute
    app.state.backend_state = state
    app.state.telemetry = telemetry
    if config.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=config.api_key, telemetry=telemetry)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(exc), "invalid_request_error")

    @app.get("/health")
    async def health() -> JSONResponse:
        if state.status == "failed":
            return JSONResponse({"status": "failed", "error": state.error}, status_code=500)
        return JSONResponse({"status": state.status}, status_code=200 if state.ready else 503)

    @app.post("/v1/model/load")
    async def load_model() -> JSONResponse:
        await state.load(backend)
        if not state.ready:
            return _error(500, f"model load failed: {state.error}")
        return JSONResponse({"status": state.status})

    @app.post("/v1/model/unload")
    async def unload_model() -> JSONResponse:
        await state.unload(backend)
        return JSONResponse({"status": state.status})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(telemetry.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": model_name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "vlmhb",
                    "vlmhb": backend.info(),
                }
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> Response:
        started = time.perf_counter()
        telemetry.started()

        def refuse(response: JSONResponse) -> JSONResponse:
            telemetry.finished(
                time.perf_counter() - started, error=True, status=response.status_code
            )
            return response

        if not state.ready:
            reason = state.error or f"backend is {state.status}"
            return refuse(_error(503, reason, "unavailable"))
        try:
            body.check_supported()
            # decoding pixels is CPU work: off the loop; a header check is not (the thread
            # hop cost more than the check: 0.45 ms of a 2.4 ms request for scripted)
            if backend.decode_images and body.has_images():
                request = await asyncio.to_thread(
                    body.to_generation_request, config.images, backend.decode_images
                )
            else:
                request = body.to_generation_request(config.images, backend.decode_images)
        except UnsupportedParameterError as exc:
            return refuse(_error(400, str(exc), "invalid_request_error", exc.param))
        except ImageError as exc:
            return refuse(_error(exc.status_code, str(exc), "invalid_request_error"))
        headers = dict(base_headers)
        if request.response_format and not backend.supports_response_format:
            headers[RESPONSE_FORMAT_HEADER] = "ignored"
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return await _stream(request, include_usage, started, headers)
        try:
            generation = await backend.generate(request)
        except Exception as exc:
            return refuse(_backend_error(exc))
        elapsed = time.perf_counter() - started
        telemetry.finished(elapsed, error=False)
        reply = completion_body(generation, model_name, {"server_latency_ms": _ms(elapsed)})
        return JSONResponse(reply, headers={**headers, LATENCY_HEADER: str(_ms(elapsed))})

    def _backend_error(exc: Exception) -> JSONResponse:
        if isinstance(exc, BackendError):
            status = exc.status_code
            type_ = "invalid_request_error" if status < 500 else "server_error"
            return _error(status, str(exc), type_)
        log.exception("backend %s raised", backend.name)
        return _error(500, f"{type(exc).__name__}: {exc}")

    async def _stream(
        request: GenerationRequest, include_usage: bool, started: float, headers: dict[str, str]
    ) -> Response:
        """SSE reply; a failure before the first chunk is still a plain HTTP error, a later
        one ends the stream with an error event and no ``[DONE]``."""
        chunks = backend.stream(request)
        try:
            first: str | StreamEnd | None = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except Exception as exc:
            response = _backend_error(exc)
            telemetry.finished(
                time.perf_counter() - started, error=True, status=response.status_code
            )
            return response
        first_at = time.perf_counter()
        chunk_id, created = completion_id(), int(time.time())
        headers = {
            **headers,
            TTFT_HEADER: str(_ms(first_at - started)),
            "cache-control": "no-cache",
        }

        async def events() -> AsyncGenerator[str, None]:
            parts: list[str] = []
            end = first if isinstance(first, StreamEnd) else None
            failed = True
            try:
                text = first if isinstance(first, str) else ""
                parts.append(text)
                yield _sse(
                    chunk_body(
                        chunk_id, model_name, created, {"role": "assistant", "content": text}
                    )
                )
                if first is not None:
                    async for item in chunks:
                        if isinstance(item, StreamEnd):
                            end = item
                            continue
                        parts.append(item)
                        yield _sse(chunk_body(chunk_id, model_name, created, {"content": item}))
                finish = end.finish_reason if end else "stop"
                tail = _sse(chunk_body(chunk_id, model_name, created, {}, finish))
                if include_usage:
                    usage = (
                        (end.prompt_tokens, end.completion_tokens)
                        if end
                        else backend.usage(request, "".join(parts))
                    )
                    usage_chunk = chunk_body(chunk_id, model_name, created, None)
                    usage_chunk["usage"] = usage_dict(*usage)
                    usage_chunk["vlmhb_timings"] = {
                        "server_ttft_ms": _ms(first_at - started),
                        "server_latency_ms": _ms(time.perf_counter() - started),
                    }
                    tail += _sse(usage_chunk)
                failed = False
                yield tail + DONE_EVENT
            except Exception as exc:
                log.exception("backend %s failed while streaming", backend.name)
                yield _sse(error_body(f"{type(exc).__name__}: {exc}", "server_error", 500))
            finally:
                telemetry.finished(
                    time.perf_counter() - started,
                    error=failed,
                    ttft_s=first_at - started,
                    status=200,
                )
                if isinstance(chunks, AsyncGenerator):  # stop the backend (the client left)
                    await chunks.aclose()

        return EventStream(events(), headers)

    return app
