"""Experiments: the list and detail reads shared by the API, the WebSocket and SSE, and
the writes of submit, rerun and delete (the name rule: one active experiment per name,
since both would write ``runs/<name>``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from vlmhb.backend.crud.events import last_seq
from vlmhb.backend.db.models import (
    Artifact,
    Experiment,
    ExperimentModel,
    Run,
    StageTaskRow,
)
from vlmhb.backend.errors import Conflict, NotFound
from vlmhb.backend.schemas import (
    ArtifactOut,
    ExperimentDetail,
    ExperimentSummary,
    RunOut,
    SortField,
    StageOut,
)
from vlmhb.backend.states import ACTIVE, ExperimentStatus
from vlmhb.core.contracts import ExperimentSpec, StageName

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


def not_found(experiment_id: str) -> NotFound:
    """The one "unknown experiment" error (the API's 404 body for every route)."""
    return NotFound(f"experiment {experiment_id!r} not found")


def get(session: Session, experiment_id: str) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def latest_named(session: Session, name: str) -> Experiment | None:
    """The newest experiment named ``name``, if any."""
    return session.scalar(
        select(Experiment)
        .where(Experiment.name == name)
        .order_by(Experiment.created_at.desc(), Experiment.id.desc())
        .limit(1)
    )


def _active() -> list[str]:
    return [s.value for s in ACTIVE]


def active_ids(session: Session) -> list[str]:
    """Ids of the experiments still ``ACCEPTED`` or ``RUNNING``."""
    return list(session.scalars(select(Experiment.id).where(Experiment.status.in_(_active()))))


def active_with_name(session: Session, name: str, other_than: str | None = None) -> str | None:
    """The id of an active experiment named ``name`` (not ``other_than``), if any."""
    query = select(Experiment.id).where(Experiment.name == name, Experiment.status.in_(_active()))
    if other_than is not None:
        query = query.where(Experiment.id != other_than)
    return session.scalar(query.limit(1))


def insert(
    session: Session, experiment_id: str, spec: ExperimentSpec, fmt: str, path: Path
) -> None:
    """A new ``ACCEPTED`` experiment with its models; ``Conflict`` when one with its name
    is active."""
    busy = active_with_name(session, spec.name)
    if busy is not None:
        raise Conflict(
            f"experiment {spec.name!r} is already active as {busy}; "
            f"cancel it or wait (both would write runs/{spec.name})"
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
    experiment.model_rows = [ExperimentModel(model=m.name, backend=m.backend) for m in spec.models]
    session.add(experiment)


def claim_rerun(session: Session, experiment_id: str) -> Experiment:
    """Mark the experiment ACCEPTED for a new attempt, atomically: the conditional UPDATE
    is the transaction's first statement, so of two concurrent reruns exactly one wins
    (on SQLite too, where ``SELECT ... FOR UPDATE`` does nothing); the other gets
    ``Conflict``. Raising rolls the claim back."""
    claimed = session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status.not_in(_active()))
        .values(status=ExperimentStatus.ACCEPTED.value, attempts=Experiment.attempts + 1)
    )
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise not_found(experiment_id)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"experiment is {experiment.status}; cancel it first")
    busy = active_with_name(session, experiment.name, other_than=experiment_id)
    if busy is not None:
        raise Conflict(f"another experiment named {experiment.name!r} is active ({busy})")
    session.refresh(experiment)
    session.expunge(experiment)
    return experiment


@dataclass(frozen=True)
class Deleted:
    """What ``delete`` removed: the experiment's name, and another experiment that
    shares its runs folder (``None``: no other one does)."""

    name: str
    sharing: str | None


def delete(session: Session, experiment_id: str) -> Deleted:
    """Forget a finished experiment; ``Conflict`` while it is active."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise not_found(experiment_id)
    if experiment.status in ACTIVE:
        raise Conflict(f"experiment is {experiment.status}; cancel it first")
    sharing = session.scalar(
        select(Experiment.id)
        .where(Experiment.name == experiment.name, Experiment.id != experiment_id)
        .limit(1)
    )
    session.delete(experiment)
    return Deleted(experiment.name, sharing)
