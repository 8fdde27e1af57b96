"""Experiments: submit, list, inspect, cancel, rerun, delete."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from vlmhb.backend import actions
from vlmhb.backend.api.deps import ExperimentDep, ServicesDep, http_error
from vlmhb.backend.api.routing import allow_all_methods
from vlmhb.backend.crud import experiments as crud
from vlmhb.backend.errors import Conflict, NotFound, Unavailable
from vlmhb.backend.hosts.catalog import catalog_entries
from vlmhb.backend.schemas import (
    INVALID,
    NOT_FOUND,
    SECURED_RESPONSES,
    Accepted,
    ActionResult,
    DeleteResult,
    ExperimentDetail,
    ExperimentPage,
    SortField,
    ValidationErrorOut,
    error,
)
from vlmhb.backend.services import Services
from vlmhb.backend.states import ExperimentStatus
from vlmhb.backend.submission import (
    LEGACY_MODELS,
    SubmissionError,
    config_format,
    load_spec,
    store_legacy,
    store_structured,
)
from vlmhb.core.config.catalog import write_catalog
from vlmhb.core.config.loader import LEGACY_USER_CONFIG
from vlmhb.orchestrator.settings import submission_policy

router = APIRouter(
    tags=["experiments"],
    responses={**SECURED_RESPONSES, **INVALID},
    route_class=allow_all_methods(),
)

# the shape of a config document; what it names (backends, files) is checked on submit
CONFIG_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "required": ["name", "models", "datasets", "tasks"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        **{
            key: {"type": "array", "minItems": 1, "items": {"type": "object"}}
            for key in ("models", "datasets", "tasks")
        },
    },
}
SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An experiment config as YAML or JSON (see docs/configuration.md), or "
        f"the legacy pair {LEGACY_USER_CONFIG} + {LEGACY_MODELS} as a "
        "multipart upload. Give absolute dataset paths, or paths relative to "
        "the server's data root (VLMHB_DATA_ROOT).",
        "content": {
            "application/yaml": {"schema": CONFIG_DOCUMENT},
            "application/json": {"schema": CONFIG_DOCUMENT},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [LEGACY_USER_CONFIG, LEGACY_MODELS],
                    "properties": {
                        LEGACY_USER_CONFIG: {"type": "string", "format": "binary"},
                        LEGACY_MODELS: {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/experiments",
    status_code=202,
    response_model=Accepted,
    openapi_extra=SUBMIT_BODY,
    responses={
        409: error(
            "an experiment with this name is active, or it is already running in the orchestrator"
        ),
        413: error("body larger than VLMHB_MAX_UPLOAD_BYTES"),
        415: error("unsupported content type"),
        422: error("invalid config (the message names file:line and field)", ValidationErrorOut),
        503: error("the orchestrator service is unreachable"),
    },
)
async def submit_experiment(request: Request, services: ServicesDep) -> Accepted:
    """Store and validate the config, then start it in the background (202 at once)."""
    experiment_id = uuid.uuid4().hex
    folder = services.settings.experiments_dir / experiment_id
    try:
        path, spec_name = await _store_and_register(request, services, folder, experiment_id)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    await _start(services, experiment_id, path, force=False)
    return Accepted(
        id=experiment_id,
        name=spec_name,
        links={
            "self": f"/api/v1/experiments/{experiment_id}",
            "websocket": f"/api/v1/ws/{experiment_id}",
            "events": f"/api/v1/experiments/{experiment_id}/events",
        },
    )


async def _store_and_register(
    request: Request, services: Services, folder: Path, experiment_id: str
) -> tuple[Path, str]:
    """Store the body in ``folder``, load it under the submission policy and record the
    experiment: ``(config path, experiment name)``."""
    policy = submission_policy(services.settings)
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.lower().startswith("multipart/form-data"):
            fmt, path = "legacy_csv", await _store_multipart(request, folder, policy.base)
        else:
            fmt = config_format(content_type)
            path = await run_in_threadpool(store_structured, folder, await request.body(), fmt)
            await run_in_threadpool(_snapshot_catalog, services, folder)
        spec = await run_in_threadpool(load_spec, path, policy)
        await actions.register(services, experiment_id, spec, fmt, path)
    except SubmissionError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    except Conflict as exc:
        raise http_error(exc) from None
    return path, spec.name


def _snapshot_catalog(services: Services, folder: Path) -> None:
    """The model catalog as it is now, beside the config: a catalog model a config picks
    by name loads the same wherever and whenever the config is loaded."""
    entries = catalog_entries(services.db)
    if entries:
        write_catalog(folder, entries)


async def _store_multipart(request: Request, folder: Path, data_root: Path) -> Path:
    try:
        form = await request.form(max_files=4, max_fields=16)
    except HTTPException:
        raise
    except Exception as exc:
        raise SubmissionError(f"bad multipart body: {exc}", 400) from None
    files: dict[str, bytes] = {}
    for name in (LEGACY_USER_CONFIG, LEGACY_MODELS):
        upload = form.get(name)
        if not isinstance(upload, UploadFile):
            raise SubmissionError(
                f"multipart upload needs files {LEGACY_USER_CONFIG} and "
                f"{LEGACY_MODELS} (missing {name})"
            )
        files[name] = await upload.read()
    return await run_in_threadpool(store_legacy, folder, files, data_root)


async def _start(services: Services, experiment_id: str, path: Path, force: bool) -> None:
    try:
        await actions.start(services, experiment_id, path, force)
    except (Conflict, Unavailable) as exc:
        raise http_error(exc) from None


@router.get("/experiments", response_model=ExperimentPage)
def get_experiments(
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: Annotated[
        list[ExperimentStatus] | None, Query(description="repeat to match any of several")
    ] = None,
    name: Annotated[str | None, Query(max_length=200, description="substring")] = None,
    model: Annotated[str | None, Query(max_length=200, description="model name")] = None,
    sort: SortField = SortField.created_at_desc,
) -> ExperimentPage:
    """Experiments, newest first by default; filter by status, name (substring), model."""
    with services.db.session() as session:
        items, total = crud.list_experiments(
            session,
            status=[s.value for s in status or []],
            name=name,
            model=model,
            sort=sort,
            offset=offset,
            limit=limit,
        )
    return ExperimentPage(items=items, total=total, offset=offset, limit=limit)


@router.get("/experiments/{experiment_id}", response_model=ExperimentDetail, responses=NOT_FOUND)
def get_experiment(experiment: ExperimentDep, services: ServicesDep) -> ExperimentDetail:
    """Status, runs with their stages and progress, artifacts, last event ``seq``."""
    with services.db.session() as session:
        found = crud.detail(session, experiment.id)
    if found is None:  # deleted meanwhile
        raise http_error(crud.not_found(experiment.id))
    return found


@router.post(
    "/experiments/{experiment_id}/cancel",
    status_code=202,
    response_model=ActionResult,
    responses={**NOT_FOUND, 409: error("not active")},
)
async def cancel_experiment(experiment: ExperimentDep, services: ServicesDep) -> ActionResult:
    """Stop an active experiment; stages in flight get SIGTERM, finished work is kept."""
    try:
        await actions.cancel(services, experiment)
    except Conflict as exc:
        raise http_error(exc) from None
    return ActionResult(id=experiment.id, status="cancelling")


@router.post(
    "/experiments/{experiment_id}/rerun",
    status_code=202,
    response_model=Accepted,
    responses={
        **NOT_FOUND,
        409: error("still active, or another experiment with its name is"),
        503: error("the orchestrator service is unreachable"),
    },
)
async def rerun_experiment(
    experiment: ExperimentDep,
    services: ServicesDep,
    force: Annotated[bool, Query(description="re-run finished stages too")] = False,
) -> Accepted:
    """Run a finished, failed, cancelled or interrupted experiment again. Finished stages
    are skipped and inference resumes from ``answers.csv`` unless ``force``."""
    try:
        rerun = await actions.rerun(services, experiment.id, force)
    except (NotFound, Conflict, Unavailable) as exc:
        raise http_error(exc) from None
    return Accepted(id=rerun.id, name=rerun.name, links={"self": f"/api/v1/experiments/{rerun.id}"})


@router.delete(
    "/experiments/{experiment_id}",
    response_model=DeleteResult,
    responses={**NOT_FOUND, 409: error("still active")},
)
def delete_experiment(
    experiment: ExperimentDep,
    services: ServicesDep,
    delete_artifacts: Annotated[
        bool, Query(description="also remove runs/<name> (only when no other experiment uses it)")
    ] = False,
) -> DeleteResult:
    """Forget an experiment. Its run files stay unless ``delete_artifacts=true``."""
    try:
        removal = actions.delete(services, experiment.id, delete_artifacts)
    except (NotFound, Conflict) as exc:
        raise http_error(exc) from None
    return DeleteResult(
        id=experiment.id,
        deleted=True,
        artifacts_deleted=removal.artifacts_deleted,
        detail=removal.detail,
    )
