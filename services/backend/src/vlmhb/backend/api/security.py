"""Authentication (bearer token, session cookie, query token) and request body limits.

Auth is always on unless the server was started with ``--no-auth`` (loopback only).
A request is authenticated by ``Authorization: Bearer <token>`` (API clients), or by the
HttpOnly session cookie the browser got in exchange for the token (``api/auth.py``).
``?access_token=`` is accepted only where a header is impossible: the WebSocket, the SSE
stream and the image/artifact GETs used by ``<img>``/``<a>``. Read-only calls need no
token with ``VLMHB_PUBLIC_READ=1``. ``/api/v1/health`` and the login stay open.
Host, Origin and CSRF checks are in ``guards.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vlmhb.backend.services import services_of
from vlmhb.orchestrator.tokens import same_secret, session_value

READ_METHODS = {"GET", "HEAD"}
SESSION_COOKIE = "vlmhb_session"
CSRF_COOKIE = "vlmhb_csrf"
CSRF_HEADER = "X-VLMHB-CSRF"
SESSION_MAX_AGE_S = 30 * 24 * 3600
bearer = HTTPBearer(
    auto_error=False, description="the server's token (VLMHB_AUTH_TOKEN or <data dir>/auth_token)"
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="set by POST /api/v1/auth/login or /?token="
)


def token_ok(conn: HTTPConnection, read_only: bool, query_token: str | None = None) -> bool:
    """Whether ``conn`` may proceed: bearer header, session cookie, or ``query_token``
    (pass it only where a header is impossible)."""
    settings = services_of(conn).settings
    if settings.no_auth or (read_only and settings.public_read):
        return True
    token = settings.auth_token
    if not token:
        return False  # create_app always sets one; fail closed
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and same_secret(value.strip(), token):
        return True
    if same_secret(conn.cookies.get(SESSION_COOKIE, ""), session_value(token)):
        return True
    return query_token is not None and same_secret(query_token, token)


def unauthorized() -> HTTPException:
    return HTTPException(
        401,
        "missing or wrong token: send 'Authorization: Bearer <token>' "
        "or log in (POST /api/v1/auth/login)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def bearer_dependency(query_token_endpoints: Collection[Callable[..., Any]] = ()) -> Any:
    """Router dependency (bearer and cookie schemes declared in OpenAPI): 401 unless
    authenticated; ``?access_token=`` counts only on ``query_token_endpoints``."""
    allowed = frozenset(query_token_endpoints)

    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        _cookie: Annotated[str | None, Depends(session_cookie)],
    ) -> None:
        query_token = (
            request.query_params.get("access_token")
            if request.scope.get("endpoint") in allowed
            else None
        )
        if not token_ok(request, request.method in READ_METHODS, query_token):
            raise unauthorized()

    return Depends(dependency)


def set_session(response: Response, request: Request, token: str | None) -> None:
    """Give the browser its session cookie (HttpOnly, SameSite=Strict, Path=/) for
    ``token`` (none in ``--no-auth`` mode) and a CSRF cookie (see ``guards.py``)."""
    secure = request.url.scheme == "https"
    if token:
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token),
            max_age=SESSION_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure,
        )
    set_csrf(response, request, force=True)


def set_csrf(response: Response, request: Request, force: bool = False) -> None:
    """A readable (not HttpOnly) random CSRF cookie, unless the browser has one."""
    if force or not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(24),
            path="/",
            max_age=SESSION_MAX_AGE_S,
            httponly=False,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


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
                    raise HTTPException(
                        413,
                        f"request body larger than {self.max_bytes} bytes (VLMHB_MAX_UPLOAD_BYTES)",
                    )
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"detail":"request body larger than '
        + str(limit).encode()
        + b' bytes (VLMHB_MAX_UPLOAD_BYTES)"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
