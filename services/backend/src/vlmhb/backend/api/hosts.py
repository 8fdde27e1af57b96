"""Hosts: add and bootstrap them, follow their jobs' Ansible events, read their health
history and events (``docs/hosts.md``)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi import Path as PathParam
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vlmhb.backend.api.deps import ServicesDep, http_error
from vlmhb.backend.api.routing import allow_all_methods
from vlmhb.backend.db.models import ContainerCheck, Host, HostCheck, HostEvent, HostJob
from vlmhb.backend.errors import Conflict
from vlmhb.backend.hosts import store
from vlmhb.backend.hosts.keys import KeyReferenceError, resolve_key
from vlmhb.backend.hosts.schemas import (
    BootstrapIn,
    ContainerCheckOut,
    HostCheckOut,
    HostEventOut,
    HostIn,
    HostJobOut,
    HostOut,
    HostPatch,
    JobEvents,
)
from vlmhb.backend.schemas import CONFLICT, INVALID, NOT_FOUND, SECURED_RESPONSES
from vlmhb.backend.services import Services
from vlmhb.hosts.models import NAME_PATTERN, JobEvent

router = APIRouter(
    tags=["hosts"],
    responses={**SECURED_RESPONSES, **INVALID},
    route_class=allow_all_methods(),
)
HostName = Annotated[str, PathParam(pattern=NAME_PATTERN, description="host name")]
JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$", description="job id")]
After = Annotated[int, Query(ge=0, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=1000)]
POLL_S = 0.25


def _host(session: Session, name: str) -> Host:
    """The host ``name`` (404 when there is none)."""
    host = store.find(session, name)
    if host is None:
        raise HTTPException(404, f"host {name!r} not found")
    return host


def _checked(services: Services, connection: str | None, ssh_key: str | None) -> None:
    if connection is not None and connection not in services.settings.host_connections:
        allowed = ", ".join(services.settings.host_connections)
        raise HTTPException(
            422,
            f"field 'connection': {connection!r} is not allowed here (allowed: {allowed}; "
            "VLMHB_HOST_CONNECTIONS)",
        )
    if ssh_key is not None:
        try:
            resolve_key(services.settings.keys_dir, ssh_key)
        except KeyReferenceError as exc:
            raise HTTPException(422, f"field 'ssh_key': {exc}") from None


@router.get("/hosts", response_model=list[HostOut])
def list_hosts(services: ServicesDep) -> list[HostOut]:
    """Every host with its status, facts, last check and last job."""
    with services.db.session() as session:
        return [
            store.host_out(session, h) for h in session.scalars(select(Host).order_by(Host.name))
        ]


@router.post("/hosts", status_code=201, response_model=HostOut, responses=CONFLICT)
def add_host(body: HostIn, services: ServicesDep) -> HostOut:
    """Add a host; its SSH key is named by reference (a file in the keys folder)."""
    _checked(services, body.connection, body.ssh_key)
    with services.db.session() as session:
        if store.find(session, body.name) is not None:
            raise HTTPException(409, f"host {body.name!r} exists")
        host = Host(
            **body.model_dump(), status="new", created_at=store.now(), updated_at=store.now()
        )
        session.add(host)
        session.flush()
        return store.host_out(session, host)


@router.get("/hosts/{name}", response_model=HostOut, responses=NOT_FOUND)
def get_host(name: HostName, services: ServicesDep) -> HostOut:
    with services.db.session() as session:
        host = _host(session, name)
        return store.host_out(session, host)


@router.patch("/hosts/{name}", response_model=HostOut, responses=NOT_FOUND)
def patch_host(name: HostName, body: HostPatch, services: ServicesDep) -> HostOut:
    with services.db.session() as session:
        host = _host(session, name)
        _checked(services, None, body.ssh_key)
        for key, value in body.model_dump(exclude_unset=True).items():
            setattr(host, key, value)
        host.updated_at = store.now()
        return store.host_out(session, host)


@router.delete("/hosts/{name}", status_code=204, responses=NOT_FOUND)
def delete_host(name: HostName, services: ServicesDep) -> Response:
    with services.db.session() as session:
        host = _host(session, name)
        session.delete(host)
    return Response(status_code=204)


@router.post(
    "/hosts/{name}/bootstrap",
    status_code=202,
    response_model=HostJobOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def bootstrap_host(name: HostName, body: BootstrapIn, services: ServicesDep) -> HostJobOut:
    """Queue the bootstrap playbook for the host (``check``: a dry run); 409 while a job
    of the host runs."""
    try:
        job_id = services.host_jobs.submit(name, body.check)
    except LookupError:
        raise HTTPException(404, f"host {name!r} not found") from None
    except Conflict as exc:
        raise http_error(exc) from None
    return _job(services, job_id)


@router.get("/hosts/{name}/jobs", response_model=list[HostJobOut], responses=NOT_FOUND)
def host_jobs(name: HostName, services: ServicesDep, limit: Limit = 50) -> list[HostJobOut]:
    with services.db.session() as session:
        host = _host(session, name)
        rows = session.scalars(
            select(HostJob)
            .where(HostJob.host_id == host.id)
            .order_by(HostJob.created_at.desc())
            .limit(limit)
        )
        return [store.job_out(job, host.name) for job in rows]


def _job(services: Services, job_id: str) -> HostJobOut:
    with services.db.session() as session:
        job = session.get(HostJob, job_id)
        host = session.get(Host, job.host_id) if job else None
        if job is None or host is None:
            raise HTTPException(404, f"job {job_id!r} not found")
        return store.job_out(job, host.name)


@router.get("/host-jobs/{job_id}", response_model=HostJobOut, responses=NOT_FOUND)
def get_job(job_id: JobId, services: ServicesDep) -> HostJobOut:
    return _job(services, job_id)


@router.post(
    "/host-jobs/{job_id}/cancel", status_code=202, response_model=HostJobOut, responses=NOT_FOUND
)
def cancel_job(job_id: JobId, services: ServicesDep) -> HostJobOut:
    job = _job(services, job_id)
    services.host_jobs.cancel(job_id)
    return job


@router.get("/host-jobs/{job_id}/events", response_model=JobEvents, responses=NOT_FOUND)
async def job_events(
    job_id: JobId,
    services: ServicesDep,
    after: After = 0,
    wait: Annotated[float, Query(ge=0, le=30)] = 0,
) -> JobEvents:
    """The job's events after ``after`` (long poll: waits up to ``wait`` s for one)."""
    deadline = time.monotonic() + wait
    while True:
        job, events = await run_in_threadpool(_job_and_events, services, job_id, after)
        finished = job.status not in store.ACTIVE_JOB
        if events or finished or time.monotonic() >= deadline:
            return JobEvents(events=events, finished=finished and not events)
        await asyncio.sleep(POLL_S)


def _job_and_events(
    services: Services, job_id: str, after: int
) -> tuple[HostJobOut, list[JobEvent]]:
    """The job (404 if none) and its events after ``after``: one database round, off the
    event loop."""
    job = _job(services, job_id)
    with services.db.session() as session:
        return job, store.job_events(session, job_id, after)


@router.get("/hosts/{name}/health", response_model=list[HostCheckOut], responses=NOT_FOUND)
def host_health(name: HostName, services: ServicesDep, limit: Limit = 100) -> list[HostCheckOut]:
    """The host's health checks, newest first."""
    with services.db.session() as session:
        host = _host(session, name)
        rows = session.scalars(
            select(HostCheck)
            .where(HostCheck.host_id == host.id)
            .order_by(HostCheck.id.desc())
            .limit(limit)
        )
        return [store.check_out(r) for r in rows]


@router.get("/hosts/{name}/containers", response_model=list[ContainerCheckOut], responses=NOT_FOUND)
def host_containers(
    name: HostName, services: ServicesDep, limit: Limit = 100
) -> list[ContainerCheckOut]:
    """The host's stage containers as seen by the monitor, newest first."""
    with services.db.session() as session:
        host = _host(session, name)
        rows = session.scalars(
            select(ContainerCheck)
            .where(ContainerCheck.host_id == host.id)
            .order_by(ContainerCheck.id.desc())
            .limit(limit)
        )
        return [store.container_out(r) for r in rows]


@router.get("/host-events", response_model=list[HostEventOut])
def host_events(services: ServicesDep, after: After = 0, limit: Limit = 200) -> list[HostEventOut]:
    """Host and container events after id ``after``, oldest first."""
    with services.db.session() as session:
        rows = session.scalars(
            select(HostEvent).where(HostEvent.id > after).order_by(HostEvent.id).limit(limit)
        )
        return [store.event_out(r) for r in rows]
