"""Helpers shared by the backend tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from vlmhb.backend.app import create_app
from vlmhb.backend.settings import BackendSettings

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"}
# the token test apps and test servers are started with (auth is always on)
TEST_TOKEN = "vlmhb-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
TEST_HOST = "test"  # the Host of the in-memory clients (base_url http://test)
# the web UI's folder, and what the browser tests need
WEB = Path(__file__).resolve().parents[2] / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
NPM = shutil.which("npm")


def npm(*args: str, timeout: float, env: dict[str, str] | None = None) -> None:
    """``npm <args>`` in services/web (the vlmhb of this interpreter as VLMHB_BIN);
    fails the test with the output when it exits non-zero."""
    assert NPM is not None
    full = {**os.environ, **(env or {})}
    vlmhb = Path(sys.executable).with_name("vlmhb")
    if "VLMHB_BIN" not in full and vlmhb.exists():
        full["VLMHB_BIN"] = str(vlmhb)
    full.pop("VLMHB_AUTH_TOKEN", None)
    result = subprocess.run(
        [NPM, *args],
        cwd=WEB,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"npm {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-6000:]}"
        f"\n--- stderr\n{result.stderr[-4000:]}"
    )


def ensure_node_modules() -> None:
    """``npm ci`` once when node_modules is missing; a file lock makes parallel pytest
    workers (and sessions) wait for the first one instead of installing over it."""
    with open(Path(tempfile.gettempdir()) / "vlmhb-web-npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (WEB / "node_modules").is_dir():
            npm("ci", "--no-audit", "--no-fund", timeout=240)


async def wait_status(
    client: httpx.AsyncClient,
    experiment_id: str,
    statuses: set[str] = TERMINAL,
    deadline_s: float = 180,
) -> dict[str, Any]:
    """Poll the experiment until its status is in ``statuses`` (a safety deadline only)."""
    end = time.monotonic() + deadline_s
    while True:
        response = await client.get(f"/api/v1/experiments/{experiment_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > end:
            raise AssertionError(f"experiment stuck in {body['status']}: {body}")
        await asyncio.sleep(0.2)


async def submit(
    client: httpx.AsyncClient, text: str, content_type: str = "application/yaml", **kwargs: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/experiments",
        content=text.encode(),
        headers={"content-type": content_type, **kwargs},
    )


def experiment_yaml(
    dataset: Path, name: str = "demo", latency_ms: int = 0, models: tuple[str, ...] = ("echo",)
) -> str:
    model_lines = "".join(
        f"  - name: {m}\n    backend: scripted\n"
        f"    params: {{rule: echo, latency_ms: {latency_ms}}}\n    concurrency: 2\n"
        for m in models
    )
    return (
        f"name: {name}\nmodels:\n{model_lines}"
        f"datasets:\n  - {{name: synth, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - name: vqa\n    dataset: synth\n    kind: vqa\n"
        "    metrics: [cer, anls]\n"
    )


@contextmanager
def server(
    command: list[str],
    cwd: Path,
    port: int,
    env: dict[str, str] | None = None,
    health: str = "/api/v1/health",
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``vlmhb <command>`` (with the test token, ``server_env``) and wait until it
    answers; stop it (by its pid) after. Its output goes to ``cwd/server-<port>.log``.
    Submitted configs may read inside ``cwd``'s parent (the pytest session's temp folder,
    where the ``dataset`` fixture lives) unless ``env`` names another VLMHB_DATA_ROOT."""
    log = (cwd / f"server-{port}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmhb.core.cli.main", *command, "--port", str(port)],
        cwd=cwd,
        stdout=log,
        stderr=log,
        env={
            **os.environ,
            "VLMHB_DATA_ROOT": str(cwd.resolve().parent),
            **server_env(),
            **(env or {}),
        },
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {(cwd / f'server-{port}.log').read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not start")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def server_env() -> dict[str, str]:
    """Environment for a ``vlmhb serve``/``backend``/``orchestrator`` subprocess started
    by a test: the known token (clients send ``AUTH``)."""
    return {"VLMHB_AUTH_TOKEN": TEST_TOKEN}


@asynccontextmanager
async def api_client(
    settings: BackendSettings, authenticated: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-memory ASGI transport; the client
    sends the settings' token as a bearer header unless ``authenticated`` is False."""
    app = create_app(settings)
    headers = (
        {"Authorization": f"Bearer {settings.auth_token}"}
        if authenticated and settings.auth_token
        else {}
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{TEST_HOST}", headers=headers
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
