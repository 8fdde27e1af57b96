"""Reads of the database shared by the API, the WebSocket and the SSE endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import (
    Artifact,
    EventRow,
    Experiment,
    ExperimentModel,
    Run,
    StageTaskRow,
)
from vlmhb.backend.schemas import (
    ArtifactOut,
    ExperimentDetail,
    ExperimentSummary,
    RunOut,
    SortField,
    StageOut,
)
from vlmhb.backend.states import ExperimentStatus
from vlmhb.core.contracts import StageName

API = "/api/v1"


def summary(experiment: Experiment) -> ExperimentSummary:
    return ExperimentSummary(
        id=experiment.id,
        name=experiment.name,
        status=ExperimentStatus(experiment.status),
        message=experiment.message,
        models=[m for m in experiment.models.split(",") if m],
        config_format=experiment.config_format,
        progress=experiment.progress,
        stages_total=experiment.stages_total,
        stages_done=experiment.stages_done,
        attempts=experiment.attempts,
        created_at=experiment.created_at,
        updated_at=experiment.updated_at,
        started_at=experiment.started_at,
        finished_at=experiment.finished_at,
    )


def list_query(status: Sequence[str], name: str | None, model: str | None) -> Select[Experiment]:
    query = select(Experiment)
    if status:
        query = query.where(Experiment.status.in_(list(status)))
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Experiment.name.ilike(f"%{escaped}%", escape="\\"))
    if model:
        query = query.where(
            Experiment.id.in_(
                select(ExperimentModel.experiment_id).where(ExperimentModel.model == model)
            )
        )
    return query


def list_experiments(
    session: Session,
    *,
    status: Sequence[str],
    name: str | None,
    model: str | None,
    sort: SortField,
    offset: int,
    limit: int,
) -> tuple[list[ExperimentSummary], int]:
    query = list_query(status, name, model)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = getattr(Experiment, sort.value.lstrip("-"))
    descending = sort.value.startswith("-")
    order = (
        [column.desc(), Experiment.id.desc()] if descending else [column.asc(), Experiment.id.asc()]
    )
    rows = session.scalars(query.order_by(*order).offset(offset).limit(limit)).all()
    return [summary(e) for e in rows], total


def last_seq(session: Session, experiment_id: str) -> int:
    return (
        session.scalar(
            select(func.max(EventRow.seq)).where(EventRow.experiment_id == experiment_id)
        )
        or 0
    )


def detail(session: Session, experiment_id: str) -> ExperimentDetail | None:
    """The experiment with its runs, stages and artifacts; None when unknown.

    ``last_seq`` is read first: the recorder may commit between the reads below (each sees
    the latest commit), so the rows are at least as new as ``last_seq`` and a client that
    resumes with ``since=last_seq`` misses nothing (re-applied events are idempotent).
    """
    seq = last_seq(session, experiment_id)
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        return None
    stages = session.scalars(
        select(StageTaskRow)
        .where(StageTaskRow.experiment_id == experiment.id)
        .order_by(StageTaskRow.id)
    ).all()
    runs = session.scalars(
        select(Run).where(Run.experiment_id == experiment.id).order_by(Run.id)
    ).all()
    artifacts = session.scalars(
        select(Artifact).where(Artifact.experiment_id == experiment.id).order_by(Artifact.path)
    ).all()
    by_run: dict[str | None, list[StageOut]] = {}
    for row in stages:
        by_run.setdefault(row.run_name, []).append(StageOut.model_validate(row))
    run_out = [
        RunOut(
            id=r.id,
            name=r.name,
            model=r.model,
            task=r.task,
            prompt=r.prompt,
            state=r.state,
            done=r.done,
            total=r.total,
            stages=by_run.get(r.name, []),
        )
        for r in runs
    ]
    experiment_stages = [
        s for s in by_run.get(None, []) if s.stage == StageName.EXPERIMENT_REPORT.value
    ]
    base = summary(experiment).model_dump()
    return ExperimentDetail(
        **base,
        runs=run_out,
        experiment_stages=experiment_stages,
        artifacts=[
            ArtifactOut(
                path=a.path,
                run_name=a.run_name,
                kind=a.kind,
                size=a.size,
                url=f"{API}/artifacts/{quote(a.path)}",
            )
            for a in artifacts
        ],
        samples_done=sum(r.done or 0 for r in runs),
        samples_total=sum(r.total or 0 for r in runs),
        last_seq=seq,
    )


def events_after(
    session: Session, experiment_id: str, after: int, upto: int | None, limit: int = 1000
) -> list[tuple[int, str]]:
    """Stored messages of the experiment with ``after < seq <= upto``, oldest first."""
    query = select(EventRow.seq, EventRow.payload).where(
        EventRow.experiment_id == experiment_id, EventRow.seq > after
    )
    if upto is not None:
        query = query.where(EventRow.seq <= upto)
    return [(s, p) for s, p in session.execute(query.order_by(EventRow.seq).limit(limit))]
