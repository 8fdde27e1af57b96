"""Browser login: the token is exchanged for an HttpOnly, SameSite=Strict session cookie.

``POST /api/v1/auth/login`` with ``{"token": ...}`` (JSON only, so a page on another
origin cannot send it without a CORS preflight), or opening ``/?token=...`` (the URL
``vlmhb serve`` prints), which redirects to the same page without the token.
``POST /api/v1/auth/logout`` drops the cookie.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from vlmhb.backend.api.security import clear_session, set_session
from vlmhb.backend.schemas import SECURED_RESPONSES, error
from vlmhb.backend.services import services_of
from vlmhb.orchestrator.tokens import same_secret

public = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(prefix="/auth", tags=["auth"], responses=SECURED_RESPONSES)

WRONG_TOKEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VLMHyperBench</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 640px; margin: 48px auto">
<h1>Wrong token</h1><p>This link's token is not the server's. Open the URL
<code>vlmhb serve</code> printed, or <a href="/">enter the token</a>.</p></body></html>
"""


class Login(BaseModel):
    token: str = Field(max_length=4096, description="the server's token")


def _valid(request: Request, token: str) -> bool:
    settings = services_of(request).settings
    return settings.no_auth or same_secret(token, settings.auth_token or "")


@public.post(
    "/login",
    status_code=204,
    response_class=Response,
    responses={
        400: error("malformed JSON body, or a Host/Origin not allowed"),
        401: error("wrong token"),
        403: error("a cross-origin request (Origin not allowed)"),
    },
)
async def login(body: Login, request: Request) -> Response:
    """Exchange the token for the session cookie (HttpOnly, SameSite=Strict, Path=/)."""
    if not _valid(request, body.token):
        raise HTTPException(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})
    response = Response(status_code=204)
    set_session(response, request, services_of(request).settings.auth_token)
    return response


@router.post("/logout", status_code=204, response_class=Response)
async def logout() -> Response:
    """Drop the session cookie."""
    response = Response(status_code=204)
    clear_session(response)
    return response


def token_link_login(request: Request, token: str) -> Response:
    """``GET <page>?token=...``: set the cookie and redirect to the page without the
    token (a 401 page when the token is wrong)."""
    if not _valid(request, token):
        return HTMLResponse(WRONG_TOKEN_PAGE, status_code=401)
    url = request.url.remove_query_params("token")
    path = "/" + url.path.lstrip("/")  # never "//host": no open redirect
    target = path + (f"?{url.query}" if url.query else "")
    response = RedirectResponse(target, status_code=303)
    set_session(response, request, services_of(request).settings.auth_token)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
