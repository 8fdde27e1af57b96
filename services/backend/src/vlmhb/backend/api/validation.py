"""422 answers that name the field and never echo what was sent: a request body may hold
a key, a token or a password pasted in the wrong field (FastAPI's default repeats it)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {key: value for key, value in error.items() if key not in ("input", "ctx", "url")}
        for error in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def install_validation_errors(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
