"""Registries, resources, health and artifact files."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from vlmhb.backend import __version__
from vlmhb.backend.api.run_lookup import mirror_artifact
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.schemas import SECURED_RESPONSES, Health, RegistryEntryOut
from vlmhb.backend.services import Services, get_services
from vlmhb.core.registries import get_registries

router = APIRouter(tags=["system"], responses=SECURED_RESPONSES)
public = APIRouter(tags=["system"])
ServicesDep = Annotated[Services, Depends(get_services)]


class RegistryKind(StrEnum):
    models = "models"
    tasks = "tasks"
    datasets = "datasets"
    metrics = "metrics"
    reports = "reports"
    stages = "stages"


@router.get("/registries/{kind}", response_model=list[RegistryEntryOut])
def registry(kind: RegistryKind) -> list[RegistryEntryOut]:
    """Names a config may use, with where each comes from (built-in, plugin, YAML)."""
    registries = get_registries()
    entries = [
        RegistryEntryOut(name=e.name, source=e.source, description=e.description)
        for e in registries.by_kind()[kind.value]
    ]
    if kind == RegistryKind.models:
        entries += [
            RegistryEntryOut(name=e.name, source=e.source, description=f"preset: {e.description}")
            for e in registries.model_presets
        ]
    return entries


@router.get("/resources")
async def resources(services: ServicesDep) -> dict[str, Any]:
    """GPUs and CPU slots of the orchestrator (total and free)."""
    return await services.runner.resources()


@public.get("/health", response_model=Health)
async def health(services: ServicesDep) -> Health:
    """Liveness and dependencies (open without a token)."""
    database = "ok" if await run_in_threadpool(services.db.ping) else "down"
    bus = services.bus_kind
    if services.bus_kind == "redis":
        bus = "redis" if await services.bus.ping() else "redis-down"
    status = "ok" if database == "ok" and not bus.endswith("down") else "degraded"
    return Health(
        status=status, database=database, bus=bus, mode=services.runner.mode, version=__version__
    )


@router.get(
    "/artifacts/{path:path}",
    responses={
        200: {"content": {"*/*": {}}, "description": "the file, with its own media type"},
        403: {"description": "outside the runs root"},
        404: {"description": "not found"},
    },
)
def artifact(path: str, services: ServicesDep) -> FileResponse:
    """A file under the runs root (answers, metrics, reports, logs). ``..``, absolute
    paths and symlinks leading outside the runs root are refused."""
    try:
        target = resolve_inside(services.settings.runs_dir, path)
    except OutsideRoot:
        raise HTTPException(403, "path outside the runs root") from None
    mirror_artifact(services, path)  # an experiment with results_uri: its folder from storage
    if not target.is_file():
        raise HTTPException(404, "no such artifact")
    return FileResponse(target)
