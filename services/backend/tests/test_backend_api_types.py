"""The UI's API types are generated from the backend's OpenAPI schema: the committed
``services/web/openapi.json`` and ``services/web/src/lib/api-types.ts`` are what
``scripts/gen-api-types.sh`` writes today, and the schema carries the backend's state sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vlmhb_backend_testkit import WEB, ensure_node_modules

from vlmhb.backend import schemas
from vlmhb.backend.openapi import document, main
from vlmhb.backend.states import ACTIVE, STAGE_SUCCESS, STAGE_TERMINAL, TERMINAL

ROOT = WEB.parents[1]
GENERATE = ROOT / "scripts" / "gen-api-types.sh"
COMMITTED = {
    "openapi.json": WEB / "openapi.json",
    "api-types.ts": WEB / "src" / "lib" / "api-types.ts",
}


def test_committed_api_types_are_current(tmp_path: Path) -> None:
    ensure_node_modules()
    result = subprocess.run(
        ["bash", str(GENERATE), str(tmp_path)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stale = [
        str(path.relative_to(ROOT))
        for name, path in COMMITTED.items()
        if (tmp_path / name).read_text(encoding="utf-8") != path.read_text(encoding="utf-8")
    ]
    assert not stale, f"stale: {stale}; regenerate with scripts/gen-api-types.sh and commit"


def test_schema_carries_the_backend_state_sets(tmp_path: Path) -> None:
    assert main([str(tmp_path / "openapi.json")]) == 0
    components = json.loads((tmp_path / "openapi.json").read_text())["components"]["schemas"]
    expected = {
        "ActiveExperimentStatus": ACTIVE,
        "TerminalExperimentStatus": TERMINAL,
        "TerminalStageState": STAGE_TERMINAL,
        "SuccessfulStageState": STAGE_SUCCESS,
    }
    for name, states in expected.items():
        assert set(components[name]["enum"]) == {str(s) for s in states}, name
    assert "SKIPPED" in components["TerminalStageState"]["enum"]
    assert "SKIPPED" not in components["TerminalExperimentStatus"]["enum"]


def test_response_schemas_list_every_field_as_required() -> None:
    """Answers always carry every field, so the generated types have no optional ones."""
    components = document()["components"]["schemas"]
    models = [
        model
        for model in vars(schemas).values()
        if isinstance(model, type)
        and issubclass(model, schemas.ApiModel)
        and model is not schemas.ApiModel
    ]
    assert len(models) > 10
    for model in models:
        schema = components[model.__name__]
        assert set(schema["required"]) == set(schema["properties"]), model.__name__
