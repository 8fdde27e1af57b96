"""Catalogs: models an experiment picks by name (the registry's presets, read-only, and
the models managed here) and each host's stage images (through its agent)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from fastapi import Path as PathParam
from sqlalchemy import select

from vlmhb.agent.client import AgentClient, AgentError, AgentRefused
from vlmhb.agent.settings import read_token
from vlmhb.agent.wire import ImageJob
from vlmhb.backend.api.deps import ServicesDep
from vlmhb.backend.api.routing import allow_all_methods
from vlmhb.backend.db.models import CatalogModel, Host
from vlmhb.backend.hosts import store
from vlmhb.backend.hosts.catalog import entry_of
from vlmhb.backend.hosts.schemas import (
    BuildImagesIn,
    CatalogModelIn,
    CatalogModelOut,
    HostImages,
    PullImageIn,
)
from vlmhb.backend.schemas import CONFLICT, INVALID, NOT_FOUND, SECURED_RESPONSES, error
from vlmhb.backend.services import Services
from vlmhb.core.config.catalog import validate_catalog_entry
from vlmhb.core.registries import get_registries
from vlmhb.hosts.models import NAME_PATTERN
from vlmhb.orchestrator.settings import submission_policy

router = APIRouter(
    tags=["catalog"],
    responses={**SECURED_RESPONSES, **INVALID},
    route_class=allow_all_methods(),
)
AGENT_CALL = {
    **NOT_FOUND,
    **CONFLICT,
    502: error("the host's agent does not answer"),
}
ModelName = Annotated[str, PathParam(min_length=1, max_length=200, description="model name")]
HostName = Annotated[str, PathParam(pattern=NAME_PATTERN, description="host name")]
JobId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="build job id")]
DESCRIBED = ("backend", "weights", "gpu_memory_gb", "version", "notes", "description")


def _out(model: CatalogModel) -> CatalogModelOut:
    return CatalogModelOut(
        name=model.name,
        source="catalog",
        backend=model.backend,
        weights=dict(model.weights or {}),
        gpu_memory_gb=model.gpu_memory_gb,
        version=model.version,
        notes=model.notes,
        spec=dict(model.spec or {}),
        editable=True,
    )


def _validated(body: CatalogModelIn, services: Services) -> None:
    if body.name in _presets(services):
        raise HTTPException(409, f"{body.name!r} is a registry preset: pick another name")
    reserved = {"name", "backend"} & set(body.spec)
    if reserved:
        raise HTTPException(422, f"field 'spec.{sorted(reserved)[0]}': set it at the top level")
    probe = CatalogModel(name=body.name, backend=body.backend, weights=body.weights, spec=body.spec)
    try:
        validate_catalog_entry(body.name, entry_of(probe), submission_policy(services.settings))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def _presets(services: Services) -> dict[str, dict[str, Any]]:
    registries = get_registries(list(submission_policy(services.settings).registry_dirs))
    return {entry.name: dict(entry.load()) for entry in registries.model_presets}


@router.get("/catalog/models", response_model=list[CatalogModelOut])
def list_models(services: ServicesDep) -> list[CatalogModelOut]:
    """The registry's model presets (read-only) and the catalog's models, by name."""
    rows = [
        CatalogModelOut(
            name=name,
            source="registry",
            backend=str(preset.get("backend", "")),
            weights={},
            gpu_memory_gb=None,
            version="",
            notes=str(preset.get("description", "")),
            spec={k: v for k, v in preset.items() if k not in (*DESCRIBED, "name")},
            editable=False,
        )
        for name, preset in _presets(services).items()
    ]
    with services.db.session() as session:
        rows += [_out(m) for m in session.scalars(select(CatalogModel))]
    return sorted(rows, key=lambda row: row.name)


@router.post("/catalog/models", status_code=201, response_model=CatalogModelOut, responses=CONFLICT)
def add_model(body: CatalogModelIn, services: ServicesDep) -> CatalogModelOut:
    _validated(body, services)
    with services.db.session() as session:
        if session.scalar(select(CatalogModel).where(CatalogModel.name == body.name)) is not None:
            raise HTTPException(409, f"catalog model {body.name!r} exists")
        model = CatalogModel(**body.model_dump(), created_at=store.now(), updated_at=store.now())
        session.add(model)
        session.flush()
        return _out(model)


def _find(session: Any, name: str) -> CatalogModel:
    model = session.scalar(select(CatalogModel).where(CatalogModel.name == name))
    if model is None:
        raise HTTPException(404, f"catalog model {name!r} not found")
    return model  # type: ignore[no-any-return]


@router.get("/catalog/models/{name}", response_model=CatalogModelOut, responses=NOT_FOUND)
def get_model(name: ModelName, services: ServicesDep) -> CatalogModelOut:
    with services.db.session() as session:
        return _out(_find(session, name))


@router.put(
    "/catalog/models/{name}",
    response_model=CatalogModelOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def put_model(name: ModelName, body: CatalogModelIn, services: ServicesDep) -> CatalogModelOut:
    if body.name != name:
        raise HTTPException(422, "field 'name': renaming is not supported (delete and add)")
    _validated(body, services)
    with services.db.session() as session:
        model = _find(session, name)
        for key, value in body.model_dump().items():
            setattr(model, key, value)
        model.updated_at = store.now()
        return _out(model)


@router.delete("/catalog/models/{name}", status_code=204, responses=NOT_FOUND)
def delete_model(name: ModelName, services: ServicesDep) -> Response:
    with services.db.session() as session:
        session.delete(_find(session, name))
    return Response(status_code=204)


def _agent(services: Services, host_name: str) -> AgentClient:
    """A client of the host's agent: 404 for no such host, 409 when it has no agent yet or
    the backend has no agents' token (``VLMHB_AGENT_TOKEN_FILE``)."""
    with services.db.session() as session:
        host = store.find(session, host_name)
        if host is None:
            raise HTTPException(404, f"host {host_name!r} not found")
        if not host.agent_url:
            raise HTTPException(409, f"host {host_name!r} has no agent yet: bootstrap it")
        url = host.agent_url
    path = services.settings.agent_token_file
    if path is None:
        raise HTTPException(409, "no agents' token configured: set VLMHB_AGENT_TOKEN_FILE")
    return AgentClient(url, read_token(path), timeout_s=10.0, retries=0)


def _agent_error(exc: AgentError) -> HTTPException:
    if isinstance(exc, AgentRefused):
        return HTTPException(exc.status_code, f"the agent refused: {exc.detail}")
    return HTTPException(502, f"the agent does not answer: {exc}")


@router.get("/catalog/images", response_model=list[HostImages])
def list_images(services: ServicesDep) -> list[HostImages]:
    """Per host with an agent: its stage images (tags, ids or digests, contents)."""
    with services.db.session() as session:
        names = [
            h.name
            for h in session.scalars(
                select(Host).where(Host.agent_url.is_not(None)).order_by(Host.name)
            )
        ]
    found = []
    for name in names:
        try:
            with _agent(services, name) as agent:
                found.append(HostImages(host=name, images=agent.images().images))
        except AgentError as exc:
            found.append(HostImages(host=name, images=[], error=str(exc)))
        except HTTPException as exc:  # no token configured, or the host went meanwhile
            found.append(HostImages(host=name, images=[], error=str(exc.detail)))
    return found


@router.post("/catalog/images/{host}/build", status_code=202, responses=AGENT_CALL)
def build_images(host: HostName, body: BuildImagesIn, services: ServicesDep) -> ImageJob:
    """Build image folders on the host through its agent: the agent's build job."""
    try:
        with _agent(services, host) as agent:
            return agent.build_images(body.names, body.force)
    except AgentError as exc:
        raise _agent_error(exc) from None


@router.get("/catalog/images/{host}/jobs/{job_id}", responses=AGENT_CALL)
def image_job(host: HostName, job_id: JobId, services: ServicesDep) -> ImageJob:
    try:
        with _agent(services, host) as agent:
            return agent.image_job(job_id)
    except AgentError as exc:
        raise _agent_error(exc) from None


@router.post("/catalog/images/{host}/pull", responses=AGENT_CALL)
def pull_image(host: HostName, body: PullImageIn, services: ServicesDep) -> dict[str, str]:
    """Pull an allowed image (of a registry the operator allowed) on the host."""
    try:
        with _agent(services, host) as agent:
            return agent.pull_image(body.ref)
    except AgentError as exc:
        raise _agent_error(exc) from None
