"""The API's OpenAPI document: the app's own, plus the state sets of ``states.py`` as enum
schemas (so the UI's generated types carry the backend's terminal-state definition), and
``python -m vlmhb.backend.openapi OUT.json``, which writes it without starting a server."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from vlmhb.backend.states import ACTIVE, STAGE_SUCCESS, STAGE_TERMINAL, TERMINAL

# a token for the throwaway app that only renders the document (never served)
_DUMP_TOKEN = "openapi-dump-token-0123456789"


def _enum(values: Iterable[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": sorted(str(v) for v in values), "description": description}


def state_schemas() -> dict[str, dict[str, Any]]:
    """Named enum schemas of the status and state sets (``states.py`` owns them)."""
    return {
        "ActiveExperimentStatus": _enum(
            ACTIVE, "experiment statuses that still change (waiting or running)"
        ),
        "TerminalExperimentStatus": _enum(
            TERMINAL, "experiment statuses after which nothing changes until a rerun"
        ),
        "TerminalStageState": _enum(
            STAGE_TERMINAL,
            "stage states after which the stage does not change (it may have produced artifacts)",
        ),
        "SuccessfulStageState": _enum(
            STAGE_SUCCESS, "stage states that count as done for the progress"
        ),
    }


def install_state_schemas(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) carry ``state_schemas()``."""
    render = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = render()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(state_schemas())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def document() -> dict[str, Any]:
    """The OpenAPI document of ``create_app`` (its state goes to a temporary folder; the
    settings it is given do not change the routes, so the environment's do not matter)."""
    from vlmhb.backend.app import create_app
    from vlmhb.backend.settings import BackendSettings

    with tempfile.TemporaryDirectory() as folder:
        settings = BackendSettings(
            data_dir=Path(folder) / "state",
            runs_dir=Path(folder) / "runs",
            auth_token=_DUMP_TOKEN,
            no_auth=False,
            host="127.0.0.1",
        )
        return create_app(settings).openapi()


def main(argv: list[str] | None = None) -> int:
    """``python -m vlmhb.backend.openapi OUT.json``: write the document (stable JSON)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m vlmhb.backend.openapi OUT.json", file=sys.stderr)
        return 2
    Path(args[0]).write_text(json.dumps(document(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
