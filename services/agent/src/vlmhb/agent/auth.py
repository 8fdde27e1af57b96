"""The bearer token every route but ``/health`` needs (compared in constant time)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request, status

from vlmhb.orchestrator.tokens import same_secret


def bearer_guard(token: str) -> Callable[[Request], None]:
    """A FastAPI dependency: 401 unless the request carries ``Authorization: Bearer
    <token>``."""

    def require_token(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token
