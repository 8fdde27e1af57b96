"""Browser and network access against a real ``vlmhb serve`` subprocess: the generated
token (0600, reused, printed as the URL to open), query tokens scrubbed from uvicorn's
access log, the WebSocket handshake checks, and the start-up refusals (weak token,
``--no-auth`` off loopback) of ``serve``, ``backend`` and ``orchestrator``."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import websockets
from vlmhb_orchestrator_testkit import free_port

from vlmhb.backend.cli import login_hint
from vlmhb.backend.settings import BackendSettings
from vlmhb.orchestrator.tokens import token_file

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "vlmhb.core.cli.main"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VLMHB_AUTH_TOKEN", "VLMHB_NO_AUTH")}
    return {**env, **extra}


@contextmanager
def serve(folder: Path, port: int) -> Iterator[tuple[Path, Path]]:
    """``vlmhb serve`` with a generated token; yields its (stdout, stderr) files, complete
    once the block ends (the server is stopped with SIGTERM, by its pid)."""
    out, err = folder / f"stdout-{port}.log", folder / f"stderr-{port}.log"
    with out.open("ab") as stdout, err.open("ab") as stderr:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--data-dir", "state"],
            cwd=folder,
            stdout=stdout,
            stderr=stderr,
            env=_env(),
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, err.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
            yield out, err
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _ws_outcome(url: str, **headers: str) -> str:
    """``close <code>`` after the handshake, or ``http <status>`` when it was refused."""
    try:
        async with websockets.connect(url, additional_headers=headers) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return f"close {closed.rcvd.code if closed.rcvd else None}"
            return "message"
    except websockets.InvalidStatus as refused:
        return f"http {refused.response.status_code}"


def test_generated_token_and_no_token_in_the_access_log(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(tmp_path, port) as (stdout, stderr):
        token_file = tmp_path / "state" / "auth_token"
        token = token_file.read_text().strip()
        assert len(token) >= 40 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        q = {"access_token": token}
        with httpx.Client(base_url=base, timeout=30) as client:
            link = client.get("/", params={"token": token})
            assert link.status_code == 303 and link.headers["location"] == "/"
            assert "vlmhb_session" in client.cookies
            assert client.get("/api/v1/experiments").status_code == 200  # by cookie
            client.cookies.clear()
            assert client.get("/api/v1/experiments", params=q).status_code == 401
            assert client.get("/api/v1/artifacts/none.csv", params=q).status_code == 404
            assert client.get("/api/v1/experiments/x/events", params=q).status_code == 404
            assert client.get("/api/v1/health", headers={"Host": "evil.example"}).status_code == 400
        outcomes = asyncio.run(_ws_checks(f"ws://127.0.0.1:{port}/api/v1/ws/x", token, base))
        assert outcomes == ["close 4404", "close 4401", "http 403", "close 4404"]
    printed, logged = stdout.read_text(), stderr.read_text()
    # stdout is a file here (as under docker logs): the token is in no output at all, the
    # login line names the file that holds it
    assert f"Open {base}/?token=<the token in {token_file}>" in printed
    assert token not in printed + logged
    access = [line for line in (printed + logged).splitlines() if "access_token=***" in line]
    assert len(access) >= 5, printed + logged  # HTTP lines and WebSocket lines
    assert "/?token=*** HTTP/1.1" in printed
    # the next start reuses the stored token
    with serve(tmp_path, free_port()) as (again, _):
        assert token_file.read_text().strip() == token
    assert token not in again.read_text()


def test_login_hint_prints_the_generated_token_to_a_terminal_only(tmp_path: Path) -> None:
    settings = BackendSettings(data_dir=tmp_path, auth_token="t" * 40).resolved()
    base = "http://127.0.0.1:8000"
    on_terminal = login_hint(base, settings, configured=False, terminal=True)
    piped = login_hint(base, settings, configured=False, terminal=False)
    assert f"Open {base}/?token={'t' * 40}" in on_terminal
    assert "t" * 40 not in piped and str(token_file(tmp_path.resolve())) in piped
    configured = login_hint(base, settings, configured=True, terminal=True)
    assert "t" * 40 not in configured and "<VLMHB_AUTH_TOKEN>" in configured


async def _ws_checks(url: str, token: str, origin: str) -> list[str]:
    """Query token, no token, a foreign Origin, the server's own Origin."""
    with_token = f"{url}?access_token={token}"
    return [
        await _ws_outcome(with_token),
        await _ws_outcome(url),
        await _ws_outcome(with_token, Origin="http://evil.example"),
        await _ws_outcome(with_token, Origin=origin),
    ]


@pytest.mark.parametrize("token", [" ", "short-token"])
@pytest.mark.parametrize("command", ["serve", "backend", "orchestrator"])
def test_weak_token_refused_at_start(command: str, token: str, tmp_path: Path) -> None:
    env = _env(
        VLMHB_AUTH_TOKEN=token,
        REDIS_URL="redis://127.0.0.1:6379/0",
        ORCHESTRATOR_URL="http://127.0.0.1:1",
    )
    result = subprocess.run(
        [*CLI, command, "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "VLMHB_AUTH_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert "16" in result.stderr or "blank" in result.stderr


@pytest.mark.parametrize("command", ["serve", "backend"])
def test_no_auth_refused_off_loopback(command: str, tmp_path: Path) -> None:
    env = _env(REDIS_URL="redis://127.0.0.1:6379/0", ORCHESTRATOR_URL="http://127.0.0.1:1")
    result = subprocess.run(
        [*CLI, command, "--no-auth", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--no-auth" in result.stderr and "loopback" in result.stderr
