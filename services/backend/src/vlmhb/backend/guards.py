"""Browser-facing guards: the Host allow-list, the Origin check, CSRF for form-like bodies,
and the access-log filter that hides query tokens.

``BrowserGuard`` (pure ASGI, HTTP and WebSocket):

* the ``Host`` header must name localhost, 127.0.0.1, [::1] (any port) or a configured
  name (``VLMHB_ALLOWED_HOSTS``), else 400 — a DNS-rebinding page reaches the server
  under its own name;
* a mutating request (not GET/HEAD/OPTIONS) or a WebSocket handshake carrying an
  ``Origin`` that is not the server's own origin (nor in ``VLMHB_CORS_ORIGINS``) gets 403;
* a mutating request with a body type a page may send without a CORS preflight
  (``text/plain``, ``application/x-www-form-urlencoded``, ``multipart/form-data``) and no
  ``Origin`` must carry ``Authorization`` or the CSRF header matching the CSRF cookie
  (double submit), else 403.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vlmhb.backend.api.security import CSRF_COOKIE, CSRF_HEADER
from vlmhb.orchestrator.tokens import same_secret

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# the CORS-safelisted body types: a cross-origin page may send them with no preflight
SIMPLE_TYPES = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(hostname, port)`` of a Host header value, None when it is not one."""
    if not value or any(ch in value for ch in "@/?#\\ "):
        return None
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port


def _host_name(name: str) -> str:
    return name.strip().lower().strip("[]")


class BrowserGuard:
    """Pure ASGI middleware: Host allow-list, Origin check, CSRF for form-like bodies."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str] = (), trusted_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        names = [_host_name(h) for h in allowed_hosts]
        self.any_host = "*" in names
        self.hosts = set(LOOPBACK_NAMES) | set(names)
        self.origins = {o.strip().rstrip("/").lower() for o in trusted_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        refusal = self.refusal(conn, scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, detail = refusal
        if scope["type"] == "websocket" and "websocket.http.response" not in scope.get(
            "extensions", {}
        ):
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        await JSONResponse({"detail": detail}, status)(scope, receive, send)

    def refusal(self, conn: HTTPConnection, scope: Scope) -> tuple[int, str] | None:
        """``(status, reason)`` when the request must be refused, else None."""
        host = split_host(conn.headers.get("host", ""))
        if host is None or not (self.any_host or host[0] in self.hosts):
            return 400, (
                "Host header not allowed (add the name to VLMHB_ALLOWED_HOSTS to serve it)"
            )
        websocket = scope["type"] == "websocket"
        if not websocket and scope["method"] in SAFE_METHODS:
            return None
        origin = conn.headers.get("origin")
        if origin is not None:
            if self.origin_ok(origin, host):
                return None
            return 403, (
                "cross-origin request refused: Origin is not this server "
                "(VLMHB_CORS_ORIGINS lists trusted origins)"
            )
        if websocket:
            return None
        media = conn.headers.get("content-type", "").split(";")[0].strip().lower()
        if media in SIMPLE_TYPES and "authorization" not in conn.headers and not self.csrf_ok(conn):
            return 403, (
                f"a {media} request needs a same-origin Origin header, "
                f"'Authorization: Bearer' or the {CSRF_HEADER} header"
            )
        return None

    def origin_ok(self, origin: str, host: tuple[str, int | None]) -> bool:
        """Same origin as the Host the browser used, or a configured trusted origin."""
        if origin.strip().rstrip("/").lower() in self.origins:
            return True
        try:
            parts = urlsplit(origin)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            return False
        default = DEFAULT_PORTS[parts.scheme]
        return parts.hostname == host[0] and (port or default) == (host[1] or default)

    @staticmethod
    def csrf_ok(conn: HTTPConnection) -> bool:
        """Double submit: the CSRF header equals the CSRF cookie (a page on another
        origin can neither read the cookie nor set the header without a preflight)."""
        return same_secret(conn.headers.get(CSRF_HEADER, ""), conn.cookies.get(CSRF_COOKIE, ""))


QUERY_TOKEN = re.compile(r"([?&](?:access_token|token)=)[^&#\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the values of ``token``/``access_token`` query parameters as ***."""
    return QUERY_TOKEN.sub(r"\1***", text)


class RedactQueryTokens(logging.Filter):
    """Logging filter: query tokens in uvicorn's access/WebSocket lines become ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install_log_filter(names: Iterable[str] = ("uvicorn.access", "uvicorn.error")) -> None:
    """Attach ``RedactQueryTokens`` to uvicorn's loggers (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryTokens) for f in logger.filters):
            logger.addFilter(RedactQueryTokens())
