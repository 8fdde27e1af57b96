"""Reading and writing hosts, their jobs, checks and events (one session per call)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import (
    ContainerCheck,
    Host,
    HostCheck,
    HostEvent,
    HostJob,
    HostJobEvent,
)
from vlmhb.backend.hosts.schemas import (
    ContainerCheckOut,
    HostCheckOut,
    HostEventOut,
    HostJobOut,
    HostOut,
)
from vlmhb.hosts.models import HostFacts, JobEvent

ACTIVE_JOB = ("queued", "running")


def now() -> datetime:
    return datetime.now(UTC)


def find(session: Session, name: str) -> Host | None:
    return session.scalar(select(Host).where(Host.name == name))


def job_out(job: HostJob, host: str) -> HostJobOut:
    return HostJobOut(
        id=job.id,
        host=host,
        kind=job.kind,
        check=job.check,
        status=job.status,
        rc=job.rc,
        changed=job.changed,
        failures=list(job.failures or []),
        message=job.message,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def check_out(row: HostCheck) -> HostCheckOut:
    return HostCheckOut.model_validate(row, from_attributes=True)


def container_out(row: ContainerCheck) -> ContainerCheckOut:
    return ContainerCheckOut.model_validate(row, from_attributes=True)


def event_out(row: HostEvent) -> HostEventOut:
    return HostEventOut.model_validate(row, from_attributes=True)


def host_out(session: Session, host: Host) -> HostOut:
    check = session.scalar(
        select(HostCheck).where(HostCheck.host_id == host.id).order_by(HostCheck.id.desc()).limit(1)
    )
    job = session.scalar(
        select(HostJob)
        .where(HostJob.host_id == host.id)
        .order_by(HostJob.created_at.desc())
        .limit(1)
    )
    return HostOut(
        name=host.name,
        address=host.address,
        connection=host.connection,
        ssh_user=host.ssh_user,
        ssh_port=host.ssh_port,
        ssh_key=host.ssh_key,
        agent_port=host.agent_port,
        agent_name=host.agent_name,
        agent_url=host.agent_url,
        status=host.status,
        status_message=host.status_message,
        healthy=host.status == "available",
        facts=HostFacts.model_validate(host.facts) if host.facts else None,
        facts_at=host.facts_at,
        last_seen_at=host.last_seen_at,
        last_check=check_out(check) if check else None,
        last_job=job_out(job, host.name) if job else None,
    )


def add_event(session: Session, host: str, kind: str, message: str) -> HostEvent:
    row = HostEvent(host=host, kind=kind, message=message, created_at=now())
    session.add(row)
    session.flush()
    return row


def store_job_event(session: Session, job_id: str, event: JobEvent) -> None:
    session.add(
        HostJobEvent(
            job_id=job_id,
            seq=event.seq,
            event=event.event,
            task=event.task,
            host=event.host,
            status=event.status,
            changed=event.changed,
            message=event.message,
            created_at=event.created_at,
        )
    )


def job_events(session: Session, job_id: str, after: int) -> list[JobEvent]:
    rows = session.scalars(
        select(HostJobEvent)
        .where(HostJobEvent.job_id == job_id, HostJobEvent.seq > after)
        .order_by(HostJobEvent.seq)
        .limit(1000)
    )
    return [
        JobEvent(
            seq=r.seq,
            event=r.event,
            task=r.task,
            host=r.host,
            status=r.status,
            changed=r.changed,
            message=r.message,
            created_at=r.created_at,
        )
        for r in rows
    ]


def trim_checks(session: Session, host_id: int, kept: int) -> None:
    """Keep the newest ``kept`` checks of the host."""
    count = (
        session.scalar(
            select(func.count()).select_from(HostCheck).where(HostCheck.host_id == host_id)
        )
        or 0
    )
    if count <= kept:
        return
    cutoff = session.scalar(
        select(HostCheck.id)
        .where(HostCheck.host_id == host_id)
        .order_by(HostCheck.id.desc())
        .offset(kept)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(HostCheck).where(HostCheck.host_id == host_id, HostCheck.id <= cutoff)
        )


def fail_unfinished_jobs(session: Session) -> int:
    """Jobs a stopped backend left queued or running end ``failed`` (at startup)."""
    jobs = list(session.scalars(select(HostJob).where(HostJob.status.in_(ACTIVE_JOB))))
    for job in jobs:
        job.status, job.finished_at = "failed", now()
        job.message = "the backend stopped during the job; run it again"
        host = session.get(Host, job.host_id)
        if host is not None and host.status == "bootstrapping":
            host.status, host.status_message = "failed", job.message
    return len(jobs)
