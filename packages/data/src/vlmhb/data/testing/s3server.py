"""A real S3 HTTP server for tests: moto's S3 app on 127.0.0.1, with signatures checked,
every request recorded, faults injected and GET bodies throttled on demand.

``python -m vlmhb.data.testing.s3server --port N`` (``0``: a free port) prints one JSON
line ``{"endpoint", "access_key", "secret_key"}`` once it listens, then serves until
killed. The key pair is an IAM user's, made in moto's IAM backend before the server
starts; moto then checks every request's signature (``INITIAL_NO_AUTH_ACTION_COUNT`` = 0),
so a wrong key or secret gets S3's own ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch``.

Control routes (no bucket name can start with ``_``):

- ``GET /_vlmhb/requests``: the recorded requests, oldest first (method, path, query,
  range, status, headers without ``Authorization``); ``POST /_vlmhb/requests/reset``.
- ``POST /_vlmhb/faults`` JSON ``{"method": "GET", "path_contains": "x", "status": 503,
  "count": 2}``: the next ``count`` matching requests get that status and an S3 error
  body; with ``"cut_after_bytes": n`` instead of ``status`` the real response is sent
  but the connection drops after ``n`` body bytes. ``POST /_vlmhb/faults/reset``.
- ``POST /_vlmhb/throttle`` JSON ``{"bps": 1000000}`` (``null``: off): object GET
  bodies are sent at about that many bytes a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("MOTO_ACCOUNT_ID", "123456789012")

CONTROL = "/_vlmhb/"
USER = "vlmhb-test"
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
ERROR_CODES = {500: "InternalError", 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}
THROTTLE_SLICE_S = 0.05

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


@dataclass
class Fault:
    method: str | None
    path_contains: str
    count: int
    status: int | None
    cut_after_bytes: int | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and self.path_contains in path


class Recorder:
    """Requests seen, faults pending and the throttle; shared by the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.throttle_bps: float | None = None

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    return fault
        return None


class Middleware:
    """Wraps moto's WSGI app: control routes, recording, faults, throttling."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.state = Recorder()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(environ, path[len(CONTROL) :], start_response)
        method = environ["REQUEST_METHOD"]
        record: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": environ.get("QUERY_STRING", ""),
            "range": environ.get("HTTP_RANGE"),
            "headers": _headers(environ),
            "status": None,
        }
        with self.state.lock:
            self.state.requests.append(record)
        fault = self.state.take_fault(method, path)
        if fault is not None and fault.status is not None:
            record["status"] = fault.status
            return _error(start_response, fault.status, ERROR_CODES.get(fault.status, "Fault"))

        def recording_start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, *exc)

        body = self.app(environ, recording_start)
        limit = fault.cut_after_bytes if fault is not None else None
        bps = self.state.throttle_bps if method == "GET" else None
        if limit is None and not bps:
            return body
        return _shaped(body, bps, limit)

    def _control(
        self, environ: Environ, route: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        state = self.state
        method = environ["REQUEST_METHOD"]
        if (method, route) == ("GET", "requests"):
            with state.lock:
                return _json(start_response, list(state.requests))
        if method != "POST":
            return _json(start_response, {"error": "unknown control route"}, "404 Not Found")
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size) if size else b""
        payload: dict[str, Any] = json.loads(raw) if raw else {}
        with state.lock:
            if route == "requests/reset":
                state.requests.clear()
            elif route == "faults":
                state.faults.append(
                    Fault(
                        method=payload.get("method"),
                        path_contains=payload.get("path_contains", ""),
                        count=int(payload.get("count", 1)),
                        status=payload.get("status"),
                        cut_after_bytes=payload.get("cut_after_bytes"),
                    )
                )
            elif route == "faults/reset":
                state.faults.clear()
            elif route == "throttle":
                state.throttle_bps = payload.get("bps")
            else:
                return _json(start_response, {"error": "unknown control route"}, "404 Not Found")
        return _json(start_response, {"status": "ok"})


def _headers(environ: Environ) -> dict[str, str]:
    """The request's headers (lower-case names), ``Authorization`` left out."""
    found = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and key != "HTTP_AUTHORIZATION"
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            found[key.replace("_", "-").lower()] = str(environ[key])
    return found


def _shaped(body: Iterable[bytes], bps: float | None, limit: int | None) -> Iterator[bytes]:
    """``body`` re-sent in slices at ``bps`` bytes a second; cut after ``limit`` bytes."""
    sent = 0
    step = max(1, int(bps * THROTTLE_SLICE_S)) if bps else 1 << 20
    try:
        for chunk in body:
            for start in range(0, len(chunk), step):
                piece = chunk[start : start + step]
                if limit is not None and sent + len(piece) >= limit:
                    yield piece[: max(0, limit - sent)]
                    raise ConnectionAbortedError("vlmhb test server: injected cut")
                sent += len(piece)
                yield piece
                if bps:
                    time.sleep(len(piece) / bps)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _json(start_response: StartResponse, value: Any, status: str = "200 OK") -> list[bytes]:
    data = json.dumps(value).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def _error(start_response: StartResponse, status: int, code: str) -> list[bytes]:
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>injected by the vlmhb test server</Message></Error>"
    ).encode()
    start_response(
        f"{status} {code}",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))],
    )
    return [data]


def create_user() -> tuple[str, str]:
    """An IAM user allowed everything; its access key id and secret."""
    from moto import settings
    from moto.iam.models import iam_backends

    backend = iam_backends[os.environ["MOTO_ACCOUNT_ID"]]["aws"]
    backend.create_user(region_name="us-east-1", user_name=USER)
    backend.put_user_policy(USER, "allow-all", ALLOW_ALL)
    key = backend.create_access_key(user_name=USER)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is checked
    return key.access_key_id, key.secret_access_key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: free)")
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    access_key, secret_key = create_user()
    app = Middleware(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    endpoint = f"http://127.0.0.1:{server.server_port}"
    line = {"endpoint": endpoint, "access_key": access_key, "secret_key": secret_key}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
