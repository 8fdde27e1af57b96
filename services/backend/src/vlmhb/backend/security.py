"""Bearer-token auth and request body limits.

With ``VLMHB_AUTH_TOKEN`` set every mutating call and the WebSocket need
``Authorization: Bearer <token>``; read-only calls too unless ``VLMHB_PUBLIC_READ=1``.
``/api/v1/health`` stays open (liveness probes). Browsers cannot set headers on a
WebSocket, so the WebSocket and SSE endpoints also accept ``?access_token=``.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vlmhb.backend.services import services_of

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
bearer = HTTPBearer(auto_error=False, description="VLMHB_AUTH_TOKEN")


def token_ok(conn: HTTPConnection, read_only: bool, query_token: str | None = None) -> bool:
    settings = services_of(conn).settings
    if not settings.auth_token:
        return True
    if read_only and settings.public_read:
        return True
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else (query_token or "")
    return bool(given) and hmac.compare_digest(given.encode(), settings.auth_token.encode())


async def require_auth(request: Request,
                       _credentials: HTTPAuthorizationCredentials | None = None) -> None:
    """Router dependency: 401 unless the token is given (when one is configured)."""
    query_token = request.query_params.get("access_token")
    if not token_ok(request, request.method in READ_METHODS, query_token):
        raise HTTPException(401, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


def bearer_dependency() -> Any:
    """``require_auth`` with the HTTP bearer scheme declared in OpenAPI."""
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        await require_auth(request, credentials)

    return Depends(dependency)


class BodyLimit:
    """Pure ASGI middleware: 413 when a request body is larger than ``max_bytes``
    (by ``Content-Length`` up front, or while streaming a chunked body)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"request body larger than {self.max_bytes} "
                                             "bytes (VLMHB_MAX_UPLOAD_BYTES)")
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = (b'{"detail":"request body larger than ' + str(limit).encode()
            + b' bytes (VLMHB_MAX_UPLOAD_BYTES)"}')
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
