"""Tables of the lease store (the Alembic migrations in ``vlmhb/worker/migrations`` own the
schema; these mirror it for queries)."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AttemptRow(Base):
    """One attempt of a stage. ``lease`` (autoincrement) is the fencing token: the newest
    lease of a stage is its current attempt, every older one is superseded."""

    __tablename__ = "worker_attempts"

    lease: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_id: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer)
    experiment: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gpu_ids: Mapped[str] = mapped_column(Text, default="[]")
    claims: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel: Mapped[bool] = mapped_column(Boolean, default=False)
    # the task with its secrets (``revealed_json``), kept only while the attempt is unfinished
    private_task: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_worker_attempts_stage", "stage_id", "lease"),)


class EventRow(Base):
    """A stage event a worker relayed from its agent (``seq`` orders them)."""

    __tablename__ = "worker_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lease: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_worker_events_lease", "lease", "seq"),)
