"""Experiments: submit, list, inspect, cancel, rerun, delete."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from starlette.datastructures import UploadFile

from vlmhb.backend.api.routing import allow_all_methods
from vlmhb.backend.db.models import Experiment, ExperimentModel
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.queries import detail, list_experiments
from vlmhb.backend.runner.remote import RemoteRunnerError
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
from vlmhb.backend.services import Services, get_services
from vlmhb.backend.states import ACTIVE, ExperimentStatus
from vlmhb.backend.submission import (
    LEGACY_MODELS,
    SubmissionError,
    config_format,
    load_spec,
    store_legacy,
    store_structured,
)
from vlmhb.core.config.loader import LEGACY_USER_CONFIG
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.orchestrator.local import AlreadyRunning
from vlmhb.orchestrator.settings import submission_policy

router = APIRouter(
    tags=["experiments"],
    responses={**SECURED_RESPONSES, **INVALID},
    route_class=allow_all_methods(),
)
ServicesDep = Annotated[Services, Depends(get_services)]
ExperimentId = Annotated[str, PathParam(min_length=1, max_length=64, description="experiment id")]

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


def _get(services: Services, experiment_id: str) -> Experiment:
    with services.db.session() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise HTTPException(404, f"experiment {experiment_id!r} not found")
        session.expunge(experiment)
        return experiment


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
    settings = services.settings
    experiment_id = uuid.uuid4().hex
    folder = settings.experiments_dir / experiment_id
    content_type = request.headers.get("content-type", "")
    policy = submission_policy(settings)
    try:
        if content_type.lower().startswith("multipart/form-data"):
            fmt, path = "legacy_csv", await _store_multipart(request, folder, policy.base)
        else:
            fmt = config_format(content_type)
            body = await request.body()
            path = await run_in_threadpool(store_structured, folder, body, fmt)
        spec = await run_in_threadpool(load_spec, path, policy)
        await run_in_threadpool(_insert, services, experiment_id, spec, fmt, path)
    except SubmissionError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(exc.status_code, str(exc)) from None
    except HTTPException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    services.recorder.set_status(experiment_id, ExperimentStatus.ACCEPTED, "submitted")
    await _start(services, experiment_id, path, force=False)
    return Accepted(
        id=experiment_id,
        name=spec.name,
        links={
            "self": f"/api/v1/experiments/{experiment_id}",
            "websocket": f"/api/v1/ws/{experiment_id}",
            "events": f"/api/v1/experiments/{experiment_id}/events",
        },
    )


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


def _insert(
    services: Services, experiment_id: str, spec: ExperimentSpec, fmt: str, path: Path
) -> None:
    with services.db.session() as session:
        busy = session.scalar(
            select(Experiment.id).where(
                Experiment.name == spec.name, Experiment.status.in_([s.value for s in ACTIVE])
            )
        )
        if busy is not None:
            raise HTTPException(
                409,
                f"experiment {spec.name!r} is already active as {busy}; "
                "cancel it or wait (both would write runs/"
                f"{spec.name})",
            )
        experiment = Experiment(
            id=experiment_id,
            name=spec.name,
            status=ExperimentStatus.ACCEPTED.value,
            message="",
            config_format=fmt,
            config_path=str(path),
            models=",".join(m.name for m in spec.models),
        )
        experiment.model_rows = [
            ExperimentModel(model=m.name, backend=m.backend) for m in spec.models
        ]
        session.add(experiment)


async def _start(services: Services, experiment_id: str, path: Path, force: bool) -> None:
    try:
        await services.runner.submit(experiment_id, path, force)
    except RemoteRunnerError as exc:
        services.recorder.set_status(experiment_id, ExperimentStatus.FAILED, str(exc))
        raise HTTPException(503, str(exc)) from None
    except AlreadyRunning:
        # e.g. two reruns at once (SQLite has no row lock): the first one runs, and its
        # events move the status on
        raise HTTPException(
            409, f"experiment {experiment_id} is already running in the orchestrator"
        ) from None


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
        items, total = list_experiments(
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
def get_experiment(experiment_id: ExperimentId, services: ServicesDep) -> ExperimentDetail:
    """Status, runs with their stages and progress, artifacts, last event ``seq``."""
    with services.db.session() as session:
        found = detail(session, experiment_id)
    if found is None:
        raise HTTPException(404, f"experiment {experiment_id!r} not found")
    return found


@router.post(
    "/experiments/{experiment_id}/cancel",
    status_code=202,
    response_model=ActionResult,
    responses={**NOT_FOUND, 409: error("not active")},
)
async def cancel_experiment(experiment_id: ExperimentId, services: ServicesDep) -> ActionResult:
    """Stop an active experiment; stages in flight get SIGTERM, finished work is kept."""
    experiment = await run_in_threadpool(_get, services, experiment_id)
    if experiment.status not in ACTIVE:
        raise HTTPException(409, f"experiment is {experiment.status}, not active")
    if not await services.runner.cancel(experiment_id):
        services.recorder.set_status(
            experiment_id,
            ExperimentStatus.CANCELLED,
            "cancelled (no longer running in the orchestrator)",
        )
    return ActionResult(id=experiment_id, status="cancelling")


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
    experiment_id: ExperimentId,
    services: ServicesDep,
    force: Annotated[bool, Query(description="re-run finished stages too")] = False,
) -> Accepted:
    """Run a finished, failed, cancelled or interrupted experiment again. Finished stages
    are skipped and inference resumes from ``answers.csv`` unless ``force``."""
    experiment = await run_in_threadpool(_claim_rerun, services, experiment_id)
    services.recorder.set_status(
        experiment_id, ExperimentStatus.ACCEPTED, f"rerun (attempt {experiment.attempts})"
    )
    await _start(services, experiment_id, Path(experiment.config_path), force)
    return Accepted(
        id=experiment_id,
        name=experiment.name,
        links={"self": f"/api/v1/experiments/{experiment_id}"},
    )


def _claim_rerun(services: Services, experiment_id: str) -> Experiment:
    """Mark the experiment ACCEPTED for a new attempt, atomically: the conditional UPDATE
    is the transaction's first statement, so of two concurrent reruns exactly one wins
    (on SQLite too, where ``SELECT ... FOR UPDATE`` does nothing); the other gets 409."""
    active = [s.value for s in ACTIVE]
    with services.db.session() as session:
        claimed = session.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id, Experiment.status.not_in(active))
            .values(status=ExperimentStatus.ACCEPTED.value, attempts=Experiment.attempts + 1)
        )
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise HTTPException(404, f"experiment {experiment_id!r} not found")
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise HTTPException(409, f"experiment is {experiment.status}; cancel it first")
        busy = session.scalar(
            select(Experiment.id).where(
                Experiment.name == experiment.name,
                Experiment.id != experiment_id,
                Experiment.status.in_(active),
            )
        )
        if busy is not None:  # raising rolls the claim back
            raise HTTPException(
                409, f"another experiment named {experiment.name!r} is active ({busy})"
            )
        session.refresh(experiment)
        session.expunge(experiment)
        return experiment


@router.delete(
    "/experiments/{experiment_id}",
    response_model=DeleteResult,
    responses={**NOT_FOUND, 409: error("still active")},
)
def delete_experiment(
    experiment_id: ExperimentId,
    services: ServicesDep,
    delete_artifacts: Annotated[
        bool, Query(description="also remove runs/<name> (only when no other experiment uses it)")
    ] = False,
) -> DeleteResult:
    """Forget an experiment. Its run files stay unless ``delete_artifacts=true``."""
    settings = services.settings
    with services.db.session() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise HTTPException(404, f"experiment {experiment_id!r} not found")
        if experiment.status in ACTIVE:
            raise HTTPException(409, f"experiment is {experiment.status}; cancel it first")
        name = experiment.name
        shared = session.scalar(
            select(Experiment.id)
            .where(Experiment.name == name, Experiment.id != experiment_id)
            .limit(1)
        )
        session.delete(experiment)
    shutil.rmtree(settings.experiments_dir / experiment_id, ignore_errors=True)
    removed, note = False, ""
    if delete_artifacts:
        if shared is not None:
            note = f"runs/{name} kept: experiment {shared} uses it too"
        else:
            try:
                target = resolve_inside(settings.runs_dir, name)
            except OutsideRoot:
                target = None
            if target is not None and target != settings.runs_dir.resolve() and target.is_dir():
                shutil.rmtree(target)
                removed = True
    return DeleteResult(id=experiment_id, deleted=True, artifacts_deleted=removed, detail=note)
