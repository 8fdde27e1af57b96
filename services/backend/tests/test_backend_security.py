"""Bearer token, public read, WebSocket auth, CORS, and the refusal to listen on a
public address without a token."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from vlmhb_backend_testkit import api_client

from vlmhb.backend.app import create_app

API = "/api/v1"
TOKEN = "s3cret-token"


async def test_token_required_everywhere(make_settings: Any) -> None:
    async with api_client(make_settings(auth_token=TOKEN)) as client:
        assert (await client.get(f"{API}/health")).status_code == 200  # liveness stays open
        assert (await client.get(f"{API}/experiments")).status_code == 401
        denied = await client.post(f"{API}/experiments", content=b"name: x",
                                   headers={"content-type": "application/yaml"})
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get(f"{API}/experiments", headers=wrong)).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get(f"{API}/experiments", headers=good)).status_code == 200
        assert (await client.get(f"{API}/registries/models", headers=good)).status_code == 200
        assert (await client.delete(f"{API}/experiments/x", headers=good)).status_code == 404


async def test_public_read(make_settings: Any) -> None:
    async with api_client(make_settings(auth_token=TOKEN, public_read=True)) as client:
        assert (await client.get(f"{API}/experiments")).status_code == 200
        assert (await client.post(f"{API}/experiments/x/rerun")).status_code == 401
        assert (await client.delete(f"{API}/experiments/x")).status_code == 401


async def test_websocket_needs_token(make_settings: Any) -> None:
    app = create_app(make_settings(auth_token=TOKEN, public_read=True))
    async with app.router.lifespan_context(app):
        transport = ASGIWebSocketTransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with aconnect_ws("http://test/api/v1/ws/x", client) as ws:
                with pytest.raises(Exception) as caught:
                    await ws.receive_text()
                assert getattr(caught.value, "code", None) == 4401
            async with aconnect_ws("http://test/api/v1/ws/x", client,
                                   headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
                with pytest.raises(Exception) as caught:
                    await ws.receive_text()
                assert getattr(caught.value, "code", None) == 4404  # authorised, unknown id


async def test_cors_off_by_default(make_settings: Any) -> None:
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    async with api_client(make_settings()) as client:
        response = await client.options(f"{API}/experiments", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    async with api_client(make_settings(cors_origins=["http://ui.example"])) as client:
        response = await client.options(f"{API}/experiments", headers={
            **preflight, "Origin": "http://ui.example"})
        assert response.headers["access-control-allow-origin"] == "http://ui.example"


@pytest.mark.parametrize("command", ["serve", "orchestrator"])
def test_refuses_public_address_without_token(command: str, tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VLMHB_AUTH_TOKEN"}
    env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    result = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", command, "--host", "0.0.0.0",
         "--port", "1"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "VLMHB_AUTH_TOKEN" in result.stderr
