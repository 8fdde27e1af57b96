"""The web UI: built assets (``services/web/dist`` or ``VLMHB_WEB_DIST``) served at ``/``.

Unknown non-API paths fall back to ``index.html`` (the UI routes in the browser), except a
missing top-level file (``/favicon.ico``) or asset: a 404. When the
folder has not been built, ``/`` answers a short page saying how to build it. The folder
is looked up on each request, so building the UI does not need a server restart.
Any page opened with ``?token=<the server's token>`` logs the browser in (session cookie)
and redirects to the page without the token; pages carry the CSRF cookie the UI echoes.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from vlmhb.backend.api.auth import token_link_login
from vlmhb.backend.api.security import set_csrf
from vlmhb.backend.paths import OutsideRoot, resolve_inside

ENV = "VLMHB_WEB_DIST"
# services/backend/src/vlmhb/backend/web.py -> services/web/dist (a source checkout)
DEFAULT_DIST = Path(__file__).resolve().parents[5] / "web" / "dist"


DOCS_ASSETS = "/docs/assets"  # the API docs' scripts and styles (``fastapi_offline``)


class WebPath(Convertor[str]):
    """Any path except the API's own (``/api/...``, ``/ws/...``, ``/docs``, ...) and the
    names an API client may try (``/health``, ``/metrics``), so those keep their 404/405
    answers."""

    regex = r"(?!(?:api|ws|docs|redoc|openapi\.json|health|metrics)(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("vlmhb_web_path", WebPath())

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VLMHyperBench</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 640px; margin: 48px auto">
<h1>VLMHyperBench</h1>
<p>The API is running (<a href="/docs">/docs</a>), but the web UI is not built:
no <code>{dist}</code>.</p>
<p>Build it (Node comes with the project's dev dependencies):</p>
<pre>cd services/web &amp;&amp; uv run npm ci &amp;&amp; uv run npm run build</pre>
<p>or point <code>VLMHB_WEB_DIST</code> at a built <code>dist/</code> folder.
See docs/web.md.</p>
</body></html>
"""


def web_dist() -> Path:
    """The folder with the built UI (it may not exist)."""
    configured = os.environ.get(ENV)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_DIST


def mount_web(app: FastAPI, dist: Path | None = None) -> None:
    """Add the UI routes (after the API routes, so those win)."""

    @app.get("/{path:vlmhb_web_path}", include_in_schema=False)
    def web(path: str, request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None:
            return token_link_login(request, token)
        response = _page(dist or web_dist(), path)
        if not path.startswith("assets/"):
            set_csrf(response, request)
        return response


def _page(folder: Path, path: str) -> Response:
    """The file at ``path`` in the built UI, ``index.html`` for client-side routes."""
    index = folder / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT.format(dist=html.escape(str(folder))))
    if path:
        try:
            target = resolve_inside(folder, path)
        except OutsideRoot:
            raise HTTPException(404, "Not Found") from None
        if target.is_file():
            # content-hashed names under assets/ never change
            cache = (
                "public, max-age=31536000, immutable" if path.startswith("assets/") else "no-cache"
            )
            return FileResponse(target, headers={"Cache-Control": cache})
        if path.startswith("assets/") or ("/" not in path and "." in path):
            # a missing file is not a page (``/favicon.ico``); a UI route with a dot in a
            # name below it (``/hosts/gpu-01.lab``) still is
            raise HTTPException(404, "Not Found")
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
