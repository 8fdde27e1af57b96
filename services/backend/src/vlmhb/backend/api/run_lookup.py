"""An experiment's and a run's folders under the runs root, for the routes (404 when the
experiment, the run or a folder inside the root is not found)."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from sqlalchemy import select

from vlmhb.backend.db.models import Experiment, Run
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.services import Services


def find_run(services: Services, experiment_id: str, run: str) -> tuple[Run, Path]:
    """The run (``run``: its name or numeric id) of an experiment and its folder."""
    with services.db.session() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise HTTPException(404, f"experiment {experiment_id!r} not found")
        query = select(Run).where(Run.experiment_id == experiment_id)
        numeric = run.isascii() and run.isdigit() and len(run) <= 9
        row = session.scalar(
            query.where(Run.id == int(run)) if numeric else query.where(Run.name == run)
        )
        if row is None:
            raise HTTPException(404, f"run {run!r} not found in experiment {experiment_id}")
        session.expunge(row)
        name = experiment.name
    try:
        run_dir = resolve_inside(services.settings.runs_dir, f"{name}/{row.name}")
    except OutsideRoot:
        raise HTTPException(404, "run folder outside the runs root") from None
    return row, run_dir


def find_experiment_dirs(services: Services, experiment_id: str) -> tuple[Path, list[Path]]:
    """The experiment's folder and its runs' folders (in run id order)."""
    root = services.settings.runs_dir
    with services.db.session() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise HTTPException(404, f"experiment {experiment_id!r} not found")
        names = list(
            session.scalars(
                select(Run.name).where(Run.experiment_id == experiment_id).order_by(Run.id)
            )
        )
        name = experiment.name
    try:
        return resolve_inside(root, name), [resolve_inside(root, f"{name}/{run}") for run in names]
    except OutsideRoot:
        raise HTTPException(404, "experiment folder outside the runs root") from None
