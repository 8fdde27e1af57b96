"""Helpers of the fault tests: a ``vlmhb`` server subprocess whose shutdown time is
measured (the private redis-server is ``vlmhb_orchestrator_testkit.private_redis``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TOKEN = "faults-test-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def start_server(
    command: list[str],
    cwd: Path,
    port: int,
    env: dict[str, str],
    health: str = "/api/v1/health",
    data_root: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``vlmhb <command> --port PORT`` once it answers ``health`` (token ``TOKEN``;
    submitted dataset paths must lie in ``data_root``)."""
    if data_root is not None:
        env = {**env, "VLMHB_DATA_ROOT": str(data_root)}
    log = (cwd / f"server-{port}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmhb.core.cli.main", *command, "--port", str(port)],
        cwd=cwd,
        stdout=log,
        stderr=log,
        env={**os.environ, "VLMHB_AUTH_TOKEN": TOKEN, **env},
    )
    log.close()
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {server_log(cwd, port)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("server did not start")
        time.sleep(0.2)


def server_log(cwd: Path, port: int) -> str:
    return (cwd / f"server-{port}.log").read_text(encoding="utf-8", errors="replace")[-4000:]


def sigterm_seconds(proc: subprocess.Popen[bytes], limit_s: float = 30) -> float:
    """SIGTERM ``proc``; seconds until it exited (SIGKILL after ``limit_s``)."""
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return float("inf")
    return time.monotonic() - start


@contextmanager
def stopped_at_end(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
