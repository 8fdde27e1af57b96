"""SQLAlchemy 2 models: the database is the source of truth for state.

``Experiment`` → ``Run`` (one run directory) → ``StageTaskRow`` (one stage task) →
``StageAttemptRow`` (each try of it, from its ``RUNNING`` events), plus ``EventRow`` (every
event, logs included, with a global sequence number used for replay/ordering) and
``Artifact`` (files a run wrote, relative to the runs root).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        Index("ix_experiments_created", "created_at", "id"),
        Index("ix_experiments_status_created", "status", "created_at", "id"),
        Index("ix_experiments_name_created", "name", "created_at", "id"),
        Index("ix_experiments_updated", "updated_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    config_format: Mapped[str] = mapped_column(String(20))
    config_path: Mapped[str] = mapped_column(Text)
    models: Mapped[str] = mapped_column(Text, default="")  # comma-joined model names (display)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stages_total: Mapped[int] = mapped_column(Integer, default=0)
    stages_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    model_rows: Mapped[list[ExperimentModel]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", passive_deletes=True
    )
    runs: Mapped[list[Run]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Run.id",
    )
    stages: Mapped[list[StageTaskRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="StageTaskRow.id"
    )


class ExperimentModel(Base):
    """One model of an experiment (for the ``model`` filter of the list)."""

    __tablename__ = "experiment_models"
    __table_args__ = (Index("ix_experiment_models_model", "model", "experiment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(200))
    backend: Mapped[str] = mapped_column(String(100), default="")

    experiment: Mapped[Experiment] = relationship(back_populates="model_rows")


class Run(Base):
    """One run directory ``runs/<experiment>/<name>`` (model × task × prompt)."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("experiment_id", "name", name="uq_runs_experiment_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(400))
    model: Mapped[str] = mapped_column(String(200), default="")
    task: Mapped[str] = mapped_column(String(200), default="")
    prompt: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(20), default="PENDING")
    done: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="runs")


class StageTaskRow(Base):
    """One stage task (content-hash ``task_id``) of an experiment."""

    __tablename__ = "stage_tasks"
    __table_args__ = (
        UniqueConstraint("experiment_id", "task_id", name="uq_stage_tasks_experiment_task"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[str] = mapped_column(String(64))
    run_name: Mapped[str | None] = mapped_column(String(400), nullable=True)
    stage: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="PENDING")
    message: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the current try (``Event.attempt``; None: no try announced), where it runs (None:
    # the orchestrator's own host) and the tries allowed once a retry announced the cap
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gpu_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    tries: Mapped[list[StageAttemptRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="StageAttemptRow.attempt"
    )


class StageAttemptRow(Base):
    """One try of a stage (``attempt`` 0 first, then each infrastructure retry): where it
    ran, when, how it ended (``state`` stays ``RUNNING`` while it runs) and why."""

    __tablename__ = "stage_attempts"
    __table_args__ = (UniqueConstraint("stage_id", "attempt", name="uq_stage_attempts_try"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage_tasks.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gpu_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventRow(Base):
    """Every event of an experiment; ``seq`` orders them globally (replay, dedup)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_experiment_seq", "experiment_id", "seq"),
        Index("ix_events_experiment_task_seq", "experiment_id", "task_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    payload: Mapped[str] = mapped_column(Text)  # the WebSocket/SSE message, JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Artifact(Base):
    """A file of a run, ``path`` relative to the runs root (served by /artifacts)."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("experiment_id", "path", name="uq_artifacts_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    run_name: Mapped[str | None] = mapped_column(String(400), nullable=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Host(Base):
    """A host of the platform (``docs/hosts.md``): where it is, how Ansible reaches it
    (``ssh_key`` is a reference: a file name in ``VLMHB_SSH_KEYS_DIR``, never the key),
    its agent, status and the facts its last bootstrap gathered."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(255))
    connection: Mapped[str] = mapped_column(String(20), default="ssh")
    ssh_user: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    agent_port: Mapped[int] = mapped_column(Integer, default=8101)
    agent_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="new")
    status_message: Mapped[str] = mapped_column(Text, default="")
    facts: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    facts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HostJob(Base):
    """One bootstrap run of a host (``check``: Ansible's check mode)."""

    __tablename__ = "host_jobs"
    __table_args__ = (Index("ix_host_jobs_host_created", "host_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), default="bootstrap")
    check: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    rc: Mapped[int | None] = mapped_column(Integer, nullable=True)
    changed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failures: Mapped[list[str]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class HostJobEvent(Base):
    """One Ansible event of a job (``vlmhb.hosts.models.JobEvent``, scrubbed)."""

    __tablename__ = "host_job_events"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_host_job_events_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("host_jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    task: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    changed: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HostCheck(Base):
    """One health check of a host's agent (the history the monitor keeps)."""

    __tablename__ = "host_checks"
    __table_args__ = (Index("ix_host_checks_host_checked", "host_id", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(20))
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gpus: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    running: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")


class ContainerCheck(Base):
    """A stage container as the monitor saw it: a row when it first shows and each time
    its state, restarts, exit code or OOM kill changes."""

    __tablename__ = "container_checks"
    __table_args__ = (Index("ix_container_checks_host_checked", "host_id", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    container_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(40))
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    oom_killed: Mapped[bool] = mapped_column(default=False)


class HostEvent(Base):
    """A host or container turning unhealthy or healthy, or a bootstrap ending."""

    __tablename__ = "host_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CatalogModel(Base):
    """A model of the catalog (``vlmhb.core.config.catalog``): ``spec`` is the model
    entry a config picking it by name gets; the other columns describe it."""

    __tablename__ = "catalog_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    backend: Mapped[str] = mapped_column(String(100))
    weights: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    gpu_memory_gb: Mapped[float | None] = mapped_column(Float, nullable=True)
    version: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
