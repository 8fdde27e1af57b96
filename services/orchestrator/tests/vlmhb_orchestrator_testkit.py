"""Helpers of the orchestrator tests (the backend's tests use them too): the shared test
Redis (a database of it per pytest-xdist worker), a private ``redis-server`` that a test
may kill, a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import redis

REDIS_TEST_URL = os.environ.get("VLMHB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_DATABASES = 16  # redis-server's default ``databases``


def _worker_url(url: str) -> str:
    """``url`` with a database of its own per pytest-xdist worker (gw0 → 1, gw1 → 2, ...),
    so parallel workers never share a stream or a cursor; unchanged in a serial run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    database = 1 + int(worker[2:]) % (REDIS_DATABASES - 1)
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def shared_redis_url() -> str:
    """The test Redis (``scripts/services.sh`` starts it), checked to answer; this worker's
    own database of it under pytest-xdist."""
    url = _worker_url(REDIS_TEST_URL)
    client = redis.Redis.from_url(url)
    assert client.ping(), "Redis must be running (scripts/services.sh)"
    client.close()
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """``redis-server`` on ``port`` without persistence: a restart starts it empty."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=1).ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL (by its pid); the in-memory stream is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@contextmanager
def private_redis(port: int, folder: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(port, folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()
