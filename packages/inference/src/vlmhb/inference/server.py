"""The API wrapper: an OpenAI-compatible HTTP server over one ``Backend``.

``create_app(backend)`` gives a FastAPI app with ``POST /v1/chat/completions`` (streaming
and not), ``GET /v1/models``, ``GET /health`` (503 while the backend loads) and
``GET /metrics`` (Prometheus text). The backend is loaded in the background after start,
so ``/health`` answers at once and says when the model is ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.requests import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from vlmhb.inference.backends.base import Backend, BackendError, GenerationRequest
from vlmhb.inference.images import ImageError
from vlmhb.inference.protocol import (
    ChatRequest,
    chunk_body,
    completion_body,
    completion_id,
    error_body,
    usage_dict,
)
from vlmhb.inference.telemetry import Telemetry

log = logging.getLogger("vlmhb.inference.server")
LATENCY_HEADER = "x-vlmhb-server-latency-ms"


class BackendState:
    """Load status of the served backend."""

    def __init__(self) -> None:
        self.ready = False
        self.error: str | None = None

    async def load(self, backend: Backend) -> None:
        log.info("loading backend %s", backend.name)
        try:
            await backend.load()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("backend %s failed to load", backend.name)
            return
        self.ready = True
        log.info("backend %s ready", backend.name)


def _error(status: int, message: str, type_: str = "server_error") -> JSONResponse:
    return JSONResponse(error_body(message, type_, status), status_code=status)


def _sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def create_app(backend: Backend) -> FastAPI:
    """FastAPI app serving ``backend``; loads it in the background on startup."""
    state = BackendState()
    telemetry = Telemetry()
    model_name = backend.spec.model or backend.spec.name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(state.load(backend))
        try:
            yield
        finally:
            loading.cancel()
            if state.ready:
                await backend.unload()

    app = FastAPI(title="VLMHyperBench API wrapper", lifespan=lifespan)
    app.state.backend_state = state
    app.state.telemetry = telemetry

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in exc.errors())
        return _error(400, f"invalid request body: {problems}", "invalid_request_error")

    @app.get("/health")
    async def health() -> JSONResponse:
        if state.error:
            return JSONResponse({"status": "failed", "error": state.error}, status_code=500)
        if not state.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(telemetry.render())

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{
            "id": model_name, "object": "model", "created": 0, "owned_by": "vlmhb",
            "vlmhb": backend.info()}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> Response:
        if not state.ready:
            return _error(503, state.error or "backend is still loading", "unavailable")
        started = time.perf_counter()
        telemetry.started()
        try:
            request = body.to_generation_request()
        except ImageError as exc:
            telemetry.finished(time.perf_counter() - started, error=True)
            return _error(400, str(exc), "invalid_request_error")
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return await _stream(request, include_usage, started)
        try:
            generation = await backend.generate(request)
        except Exception as exc:
            telemetry.finished(time.perf_counter() - started, error=True)
            return _backend_error(exc)
        elapsed = time.perf_counter() - started
        telemetry.finished(elapsed, error=False)
        reply = completion_body(generation, model_name, {"server_latency_ms": _ms(elapsed)})
        return JSONResponse(reply, headers={LATENCY_HEADER: str(_ms(elapsed))})

    def _backend_error(exc: Exception) -> JSONResponse:
        if isinstance(exc, BackendError):
            status = exc.status_code
            type_ = "invalid_request_error" if status < 500 else "server_error"
            return _error(status, str(exc), type_)
        log.exception("backend %s raised", backend.name)
        return _error(500, f"{type(exc).__name__}: {exc}")

    async def _stream(request: GenerationRequest, include_usage: bool, started: float
                      ) -> Response:
        """SSE reply; a failure before the first chunk is still a plain HTTP error."""
        chunks = backend.stream(request).__aiter__()
        try:
            first: str | None = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except Exception as exc:
            telemetry.finished(time.perf_counter() - started, error=True)
            return _backend_error(exc)
        first_at = time.perf_counter()
        chunk_id, created = completion_id(), int(time.time())

        async def events() -> AsyncIterator[str]:
            parts = [first or ""]
            failed = True
            try:
                yield _sse(chunk_body(chunk_id, model_name, created,
                                      {"role": "assistant", "content": first or ""}))
                if first is not None:
                    async for chunk in chunks:
                        parts.append(chunk)
                        yield _sse(chunk_body(chunk_id, model_name, created,
                                              {"content": chunk}))
                tail = _sse(chunk_body(chunk_id, model_name, created, {}, "stop"))
                if include_usage:
                    usage_chunk = chunk_body(chunk_id, model_name, created, None)
                    usage_chunk["usage"] = usage_dict(*backend.usage(request, "".join(parts)))
                    usage_chunk["vlmhb_timings"] = {
                        "server_ttft_ms": _ms(first_at - started),
                        "server_latency_ms": _ms(time.perf_counter() - started)}
                    tail += _sse(usage_chunk)
                failed = False
                yield tail + _sse("[DONE]")
            except Exception as exc:
                log.exception("backend %s failed while streaming", backend.name)
                yield _sse(error_body(f"{type(exc).__name__}: {exc}", "server_error", 500))
            finally:
                telemetry.finished(time.perf_counter() - started, error=failed)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    return app
