"""Browser and network access, in process: auth on every route, the session cookie, query
tokens only where a header is impossible, the Host allow-list, the Origin and CSRF checks,
preflight-forcing content types, token strength, ``--no-auth`` and the orchestrator token.
Each test tries to break one rule (issue 7)."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from pydantic import ValidationError
from vlmhb_backend_testkit import AUTH, TEST_TOKEN, api_client

from vlmhb.backend.app import create_app
from vlmhb.backend.guards import redact
from vlmhb.backend.runner.remote import RemoteRunner
from vlmhb.backend.settings import BackendSettings
from vlmhb.orchestrator.app import create_orchestrator_app
from vlmhb.orchestrator.tokens import WeakToken, load_or_create_token, session_value

API = "/api/v1"
CONFIG = b"name: x\nmodels: []\n"
POLICY = 1008  # the guard's close code where the server has no WebSocket denial response
OPEN_ROUTES = {f"{API}/health", f"{API}/auth/login"}


def _api_routes(app: Any) -> list[tuple[str, str]]:
    """``(method, path with 'x' for each parameter)`` of every /api/v1 HTTP operation."""
    out = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(API):
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            out += [(method.upper(), concrete) for method in operations]
    return out


async def _ws_close_code(app: Any, url: str, **headers: str) -> int | None:
    async with httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=app), base_url="http://test"
    ) as client:
        try:
            async with aconnect_ws(url, client, headers=headers) as ws:
                with pytest.raises(Exception) as caught:
                    await ws.receive_text()
                return getattr(caught.value, "code", None)
        except Exception as exc:  # refused before the handshake: a close (1008 = policy)
            return getattr(exc, "code", None)


async def test_no_token_401_on_every_api_route(make_settings: Any) -> None:
    async with api_client(make_settings(), authenticated=False) as client:
        app = client.app  # type: ignore[attr-defined]
        routes = _api_routes(app)
        assert len(routes) >= 15
        for method, path in routes:
            response = await client.request(method, path)
            if path in OPEN_ROUTES:
                continue
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        assert (await client.get(f"{API}/health")).status_code == 200  # liveness stays open
        wrong = {"Authorization": "Bearer " + "n" * 32}
        assert (await client.get(f"{API}/experiments", headers=wrong)).status_code == 401
        assert (await client.get(f"{API}/experiments", headers=AUTH)).status_code == 200
        assert (await client.delete(f"{API}/experiments/x", headers=AUTH)).status_code == 404
        # a cookie that is not the session value for this token
        client.cookies.set("vlmhb_session", TEST_TOKEN)
        assert (await client.get(f"{API}/experiments")).status_code == 401
        assert await _ws_close_code(app, "http://test/api/v1/ws/x") == 4401
        assert await _ws_close_code(app, "http://test/api/v1/ws/x", **AUTH) == 4404


async def test_text_plain_and_form_bodies_refused(make_settings: Any) -> None:
    async with api_client(make_settings()) as client:
        for content_type in (
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "",
        ):
            response = await client.post(
                f"{API}/experiments", content=CONFIG, headers={"content-type": content_type}
            )
            assert response.status_code == 415, (content_type, response.text)
        # with the cookie instead of the header, a form-like body without Origin is a CSRF
        async with api_client(make_settings(), authenticated=False) as browser:
            assert (await browser.get(f"/?token={TEST_TOKEN}")).status_code == 303
            for content_type in ("text/plain", "application/x-www-form-urlencoded"):
                response = await browser.post(
                    f"{API}/experiments", content=CONFIG, headers={"content-type": content_type}
                )
                assert response.status_code == 403, response.text
        listing = (await client.get(f"{API}/experiments")).json()
        assert listing["total"] == 0


async def test_cross_origin_refused(make_settings: Any) -> None:
    settings = make_settings(cors_origins=["http://ui.example"])
    async with api_client(settings) as client:
        yaml = {"content-type": "application/yaml"}
        for origin in (
            "http://evil.example",
            "http://test:8080",
            "https://test.evil",
            "null",
            "http://127.0.0.1",
        ):
            hostile = {"Origin": origin}
            for method, path in (
                ("POST", f"{API}/experiments"),
                ("POST", f"{API}/experiments/x/cancel"),
                ("POST", f"{API}/experiments/x/rerun"),
                ("DELETE", f"{API}/experiments/x"),
                ("POST", f"{API}/auth/login"),
            ):
                response = await client.request(
                    method, path, content=CONFIG, headers={**yaml, **hostile}
                )
                assert response.status_code == 403, (origin, method, path)
            # reads are not refused (CORS keeps their answers from the page)
            assert (await client.get(f"{API}/experiments", headers=hostile)).status_code == 200
        # same origin as the Host, and a configured origin, pass on to the route
        for origin in ("http://test", "https://test", "http://ui.example"):
            response = await client.post(f"{API}/experiments/x/cancel", headers={"Origin": origin})
            assert response.status_code == 404, origin
        app = client.app  # type: ignore[attr-defined]
        evil = {**AUTH, "Origin": "http://evil.example"}
        assert await _ws_close_code(app, "http://test/api/v1/ws/x", **evil) == POLICY
        same = {**AUTH, "Origin": "http://test"}
        assert await _ws_close_code(app, "http://test/api/v1/ws/x", **same) == 4404
        assert (await client.get(f"{API}/experiments")).json()["total"] == 0


async def test_host_allow_list(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with api_client(make_settings(allowed_hosts=["test", "dash.example"])) as client:
        for host in (
            "evil.example",
            "evil.example:8000",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "x@127.0.0.1",
            "",
        ):
            for path in (f"{API}/health", f"{API}/experiments", "/"):
                response = await client.get(path, headers={"Host": host})
                assert response.status_code == 400, (host, path)
            response = await client.post(
                f"{API}/experiments",
                content=CONFIG,
                headers={"Host": host, "content-type": "application/yaml"},
            )
            assert response.status_code == 400
        for host in (
            "localhost",
            "localhost:8000",
            "127.0.0.1:1234",
            "[::1]:8000",
            "DASH.example",
            "dash.example:443",
        ):
            response = await client.get(f"{API}/health", headers={"Host": host})
            assert response.status_code == 200, host
        app = client.app  # type: ignore[attr-defined]
        evil = {**AUTH, "Host": "evil.example"}
        assert await _ws_close_code(app, "http://test/api/v1/ws/x", **evil) == POLICY
    monkeypatch.setenv("VLMHB_ALLOWED_HOSTS", "a.example, b.example")
    assert BackendSettings().allowed_hosts == ["a.example", "b.example"]
    monkeypatch.setenv("VLMHB_ALLOWED_HOSTS", '["c.example"]')
    assert BackendSettings().allowed_hosts == ["c.example"]


async def test_token_link_and_login_give_a_strict_cookie(make_settings: Any) -> None:
    async with api_client(make_settings(), authenticated=False) as browser:
        assert (await browser.get(f"{API}/experiments")).status_code == 401
        wrong = await browser.get("/?token=" + "w" * 32)
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        link = await browser.get(f"/experiments/abc?token={TEST_TOKEN}&tab=runs")
        assert link.status_code == 303
        assert link.headers["location"] == "/experiments/abc?tab=runs"  # token gone
        cookies = link.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("vlmhb_session="))
        attributes = {a.strip().lower() for a in session.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert TEST_TOKEN not in session  # the cookie is derived, not the token
        csrf = next(c for c in cookies if c.startswith("vlmhb_csrf="))
        assert "httponly" not in csrf.lower() and "samesite=strict" in csrf.lower()
        assert (await browser.get(f"{API}/experiments")).status_code == 200
        # the cookie authenticates the WebSocket too (no query token needed)
        cookie = f"vlmhb_session={session_value(TEST_TOKEN)}"
        app = browser.app  # type: ignore[attr-defined]
        assert await _ws_close_code(app, "http://test/api/v1/ws/x", Cookie=cookie) == 4404
        assert (await browser.post(f"{API}/auth/logout")).status_code == 204
        assert (await browser.get(f"{API}/experiments")).status_code == 401
        # POST /auth/login takes JSON only
        bad = await browser.post(f"{API}/auth/login", json={"token": "w" * 32})
        assert bad.status_code == 401 and "set-cookie" not in bad.headers
        plain = await browser.post(
            f"{API}/auth/login",
            content=f'{{"token": "{TEST_TOKEN}"}}',
            headers={"content-type": "text/plain"},
        )
        assert plain.status_code in (403, 422)
        assert (await browser.get(f"{API}/experiments")).status_code == 401
        good = await browser.post(f"{API}/auth/login", json={"token": TEST_TOKEN})
        assert good.status_code == 204
        assert "samesite=strict" in good.headers["set-cookie"].lower()
        assert (await browser.get(f"{API}/experiments")).status_code == 200


async def test_query_token_only_where_a_header_is_impossible(make_settings: Any) -> None:
    query = {"access_token": TEST_TOKEN}
    async with api_client(make_settings(), authenticated=False) as client:
        for path in (
            f"{API}/experiments",
            f"{API}/experiments/x",
            f"{API}/registries/models",
            f"{API}/resources",
            f"{API}/analytics/x",
            f"{API}/samples/compare",
        ):
            response = await client.get(path, params=query)
            assert response.status_code == 401, path
        response = await client.post(
            f"{API}/experiments",
            content=CONFIG,
            params=query,
            headers={"content-type": "application/yaml"},
        )
        assert response.status_code == 401
        assert (await client.delete(f"{API}/experiments/x", params=query)).status_code == 401
        # <img>, <a> and EventSource cannot send headers: the token counts there
        assert (await client.get(f"{API}/artifacts/nothing.csv", params=query)).status_code == 404
        assert (
            await client.get(
                f"{API}/experiments/x/runs/r/image", params={"sample_id": "1", **query}
            )
        ).status_code == 404
        assert (await client.get(f"{API}/experiments/x/events", params=query)).status_code == 404
        assert (await client.get(f"{API}/experiments/x/events")).status_code == 401
        app = client.app  # type: ignore[attr-defined]
        url = f"http://test/api/v1/ws/x?access_token={TEST_TOKEN}"
        assert await _ws_close_code(app, url) == 4404


async def test_multipart_needs_csrf_or_origin(make_settings: Any) -> None:
    files = {
        "user_config.csv": ("user_config.csv", b"a;b\n"),
        "vlm_base.csv": ("vlm_base.csv", b"a;b\n"),
    }
    async with api_client(make_settings(), authenticated=False) as browser:
        await browser.get(f"/?token={TEST_TOKEN}")
        csrf = browser.cookies["vlmhb_csrf"]
        refused = await browser.post(f"{API}/experiments", files=files)
        assert refused.status_code == 403 and "X-VLMHB-CSRF" in refused.text
        forged = await browser.post(
            f"{API}/experiments", files=files, headers={"X-VLMHB-CSRF": "forged" + csrf}
        )
        assert forged.status_code == 403
        for headers in ({"X-VLMHB-CSRF": csrf}, {"Origin": "http://test"}):
            passed = await browser.post(f"{API}/experiments", files=files, headers=headers)
            assert passed.status_code not in (401, 403), passed.text  # reached the route
    async with api_client(make_settings()) as client:  # a bearer client needs no CSRF
        response = await client.post(f"{API}/experiments", files=files)
        assert response.status_code not in (401, 403), response.text


async def test_public_read_is_read_only(make_settings: Any) -> None:
    settings = make_settings(public_read=True)
    async with api_client(settings, authenticated=False) as client:
        assert (await client.get(f"{API}/experiments")).status_code == 200
        assert (await client.post(f"{API}/experiments/x/rerun")).status_code == 401
        assert (await client.delete(f"{API}/experiments/x")).status_code == 401
        response = await client.post(
            f"{API}/experiments", content=CONFIG, headers={"content-type": "application/yaml"}
        )
        assert response.status_code == 401
        app = client.app  # type: ignore[attr-defined]
        assert await _ws_close_code(app, "http://test/api/v1/ws/x") == 4401


@pytest.mark.parametrize(
    "token", ["", " ", "   \t", "short", "x" * 15, " " + "y" * 20, "has space inside!"]
)
def test_weak_tokens_refused(token: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="VLMHB_AUTH_TOKEN"):
        BackendSettings(data_dir=tmp_path, auth_token=token)
    with pytest.raises(WeakToken):
        create_orchestrator_app("redis://127.0.0.1:6379/0", tmp_path, token)
    assert BackendSettings(auth_token="z" * 16).auth_token == "z" * 16


async def test_generated_token_is_stored_0600_and_reused(make_settings: Any) -> None:
    settings = make_settings(auth_token=None)
    async with api_client(settings, authenticated=False) as client:
        assert (await client.get(f"{API}/experiments")).status_code == 401
        path = settings.data_dir / "auth_token"
        token = path.read_text().strip()
        assert len(token) >= 40
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get(f"{API}/experiments", headers=bearer)).status_code == 200
    assert load_or_create_token(settings.data_dir.resolve()) == (token, False)


async def test_no_auth_still_checks_host_and_origin(make_settings: Any) -> None:
    async with api_client(make_settings(auth_token=None, no_auth=True)) as client:
        assert (await client.get(f"{API}/experiments")).status_code == 200
        assert (
            await client.get(f"{API}/health", headers={"Host": "evil.example"})
        ).status_code == 400
        response = await client.post(
            f"{API}/experiments",
            content=CONFIG,
            headers={"Origin": "http://evil.example", "content-type": "application/yaml"},
        )
        assert response.status_code == 403
        response = await client.post(
            f"{API}/experiments", content=CONFIG, headers={"content-type": "text/plain"}
        )
        assert response.status_code == 403  # form-like body: needs Origin or CSRF
    assert not (make_settings().data_dir / "auth_token").exists()  # none generated
    with pytest.raises(ValueError, match="loopback"):
        create_app(make_settings(auth_token=None, no_auth=True, host="0.0.0.0"))


async def test_remote_runner_sends_the_orchestrator_token() -> None:
    runner = RemoteRunner("http://orch", TEST_TOKEN)
    assert runner.client.headers["authorization"] == f"Bearer {TEST_TOKEN}"
    await runner.shutdown()


def test_redact_query_tokens() -> None:
    line = (
        '127.0.0.1:5 - "GET /api/v1/artifacts/a?x=1&access_token=SECRET&y=2 HTTP/1.1" '
        '200; "WebSocket /ws/1?access_token=SECRET" /?token=SECRET'
    )
    assert "SECRET" not in redact(line)
    assert redact(line).count("=***") == 3 and "x=1" in redact(line) and "y=2" in redact(line)
