"""Runs of an experiment: by name or numeric id, and their names in id order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vlmhb.backend.db.models import Run


def get(session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def find(session: Session, experiment_id: str, run: str) -> Run | None:
    """The experiment's run named ``run``, or with numeric id ``run``."""
    query = select(Run).where(Run.experiment_id == experiment_id)
    numeric = run.isascii() and run.isdigit() and len(run) <= 9
    return session.scalar(
        query.where(Run.id == int(run)) if numeric else query.where(Run.name == run)
    )


def names(session: Session, experiment_id: str) -> list[str]:
    """The experiment's run names, in run id order."""
    return list(
        session.scalars(select(Run.name).where(Run.experiment_id == experiment_id).order_by(Run.id))
    )
