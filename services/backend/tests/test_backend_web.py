"""The web UI served at ``/``: built assets with SPA fallback, or a how-to-build page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from vlmhb_backend_testkit import AUTH, TEST_HOST, TEST_TOKEN, api_client

from vlmhb.backend.settings import BackendSettings

INDEX = "<!doctype html><html><body><div id='root'></div>VLMHB-UI</body></html>"


def _settings(tmp_path: Path) -> BackendSettings:
    return BackendSettings(
        data_dir=tmp_path / "state",
        runs_dir=tmp_path / "runs",
        database_url=f"sqlite:///{tmp_path / 'vlmhb.db'}",
        redis_url=None,
        orchestrator_url=None,
        auth_token=TEST_TOKEN,
        allowed_hosts=[TEST_HOST],
    )


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "assets" / "app-1234.js").write_text("console.log('ui')")
    (folder / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside")
    return folder


async def test_built_ui_is_served_with_spa_fallback(
    tmp_path: Path, dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_WEB_DIST", str(dist))
    async with api_client(_settings(tmp_path), authenticated=False) as client:
        root = await client.get("/")
        assert root.status_code == 200 and "VLMHB-UI" in root.text
        assert root.headers["content-type"].startswith("text/html")
        asset = await client.get("/assets/app-1234.js")
        assert asset.status_code == 200 and asset.text == "console.log('ui')"
        assert "immutable" in asset.headers["cache-control"]
        assert (await client.get("/favicon.svg")).text == "<svg/>"
        # client-side routes get index.html; the UI is open without the token
        for page in ("/experiments/abc", "/experiments/abc/compare", "/new", "/hosts/gpu-01.lab"):
            response = await client.get(page)
            assert response.status_code == 200 and "VLMHB-UI" in response.text, page
        # a missing asset is a 404, not the page; no escaping the folder
        assert (await client.get("/assets/missing.js")).status_code == 404
        escaped = await client.get("/%2e%2e/secret.txt")
        assert "outside" not in escaped.text
        # the API keeps its own answers (auth, 404, 405), and its docs
        assert (await client.get("/api/v1/experiments")).status_code == 401
        unknown = await client.get("/api/v1/nothing-here", headers=AUTH)
        assert unknown.status_code == 404 and unknown.json() == {"detail": "Not Found"}
        assert (await client.get("/api/v1/experiments/x/cancel", headers=AUTH)).status_code == 405
        assert (await client.get("/api")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/api/v1/health")).json()["status"] == "ok"
        # names an API client tries, and missing top-level files, are 404s, never the page
        for path in ("/health", "/metrics", "/favicon.ico", "/robots.txt"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json() == {"detail": "Not Found"}, path


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc")]
)
async def test_api_docs_work_offline(tmp_path: Path, page: str, script: str) -> None:
    """The docs pages load their scripts and styles from this server, never a CDN."""
    async with api_client(_settings(tmp_path), authenticated=False) as client:
        html = (await client.get(page)).text
        assert "cdn." not in html and "http://" not in html and "https://" not in html
        assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', html)
        assert any(script in a for a in assets), html
        for asset in assets:
            response = await client.get(asset)
            assert response.status_code == 200 and len(response.content) > 100, asset


async def test_unbuilt_ui_explains_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-dist"
    monkeypatch.setenv("VLMHB_WEB_DIST", str(missing))
    async with api_client(_settings(tmp_path), authenticated=False) as client:
        response = await client.get("/")
        assert response.status_code == 200
        assert "npm run build" in response.text and str(missing) in response.text
        assert (await client.get("/experiments/abc")).status_code == 200
        assert (await client.get("/api/v1/nothing")).status_code in (401, 404)
        # built later: picked up without a restart
        missing.mkdir()
        (missing / "index.html").write_text(INDEX)
        assert "VLMHB-UI" in (await client.get("/")).text


async def test_token_link_logs_in_and_pages_carry_the_csrf_cookie(
    tmp_path: Path, dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_WEB_DIST", str(dist))
    async with api_client(_settings(tmp_path), authenticated=False) as client:
        page = await client.get("/new")
        assert "vlmhb_csrf=" in page.headers["set-cookie"]
        asset = await client.get("/assets/app-1234.js")
        assert "set-cookie" not in asset.headers  # immutable assets stay cacheable
        link = await client.get(f"/?token={TEST_TOKEN}")
        assert link.status_code == 303 and link.headers["location"] == "/"
        assert link.headers["cache-control"] == "no-store"
        assert (await client.get("/api/v1/experiments")).status_code == 200
        # "//host" in the path never becomes an off-site redirect
        odd = await client.get(httpx.URL(f"http://{TEST_HOST}//evil.example/x?token={TEST_TOKEN}"))
        assert odd.status_code == 303 and odd.headers["location"] == "/evil.example/x"


def test_default_dist_is_the_source_checkout() -> None:
    from vlmhb.backend.api.web import DEFAULT_DIST

    assert DEFAULT_DIST.parts[-3:] == ("services", "web", "dist")
