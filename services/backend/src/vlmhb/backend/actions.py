"""What the experiment routes do below HTTP: register a stored submission, start it,
cancel, rerun, delete — the database through ``crud``, the run files, the runner.

Raise ``errors.NotFound``, ``errors.Conflict`` or ``errors.Unavailable``; the routes map
them to 404, 409 and 503.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from vlmhb.backend.crud import experiments as crud
from vlmhb.backend.db.models import Experiment
from vlmhb.backend.errors import Conflict, Unavailable
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.runner.remote import RemoteRunnerError
from vlmhb.backend.services import Services
from vlmhb.backend.states import ACTIVE, ExperimentStatus
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.orchestrator.local import AlreadyRunning


def _insert(
    services: Services, experiment_id: str, spec: ExperimentSpec, fmt: str, path: Path
) -> None:
    with services.db.session() as session:
        crud.insert(session, experiment_id, spec, fmt, path)


async def register(
    services: Services, experiment_id: str, spec: ExperimentSpec, fmt: str, path: Path
) -> None:
    """Record a validated submission as ``ACCEPTED`` (``Conflict``: its name is active)."""
    await run_in_threadpool(_insert, services, experiment_id, spec, fmt, path)
    services.recorder.set_status(experiment_id, ExperimentStatus.ACCEPTED, "submitted")


async def start(services: Services, experiment_id: str, path: Path, force: bool) -> None:
    """Hand the experiment to the runner (an unreachable orchestrator marks it FAILED)."""
    try:
        await services.runner.submit(experiment_id, path, force)
    except RemoteRunnerError as exc:
        services.recorder.set_status(experiment_id, ExperimentStatus.FAILED, str(exc))
        raise Unavailable(str(exc)) from None
    except AlreadyRunning:
        # e.g. two reruns at once (SQLite has no row lock): the first one runs, and its
        # events move the status on
        message = f"experiment {experiment_id} is already running in the orchestrator"
        raise Conflict(message) from None


async def cancel(services: Services, experiment: Experiment) -> None:
    """Stop an active experiment; one the runner no longer has is marked CANCELLED."""
    if experiment.status not in ACTIVE:
        raise Conflict(f"experiment is {experiment.status}, not active")
    if not await services.runner.cancel(experiment.id):
        services.recorder.set_status(
            experiment.id,
            ExperimentStatus.CANCELLED,
            "cancelled (no longer running in the orchestrator)",
        )


def _claim_rerun(services: Services, experiment_id: str) -> Experiment:
    with services.db.session() as session:
        return crud.claim_rerun(session, experiment_id)


async def rerun(services: Services, experiment_id: str, force: bool) -> Experiment:
    """Start a new attempt of a finished experiment (``crud.claim_rerun``)."""
    experiment = await run_in_threadpool(_claim_rerun, services, experiment_id)
    services.recorder.set_status(
        experiment_id, ExperimentStatus.ACCEPTED, f"rerun (attempt {experiment.attempts})"
    )
    await start(services, experiment_id, Path(experiment.config_path), force)
    return experiment


@dataclass(frozen=True)
class Removal:
    """What ``delete`` removed besides the database rows."""

    artifacts_deleted: bool
    detail: str


def delete(services: Services, experiment_id: str, delete_artifacts: bool) -> Removal:
    """Forget an experiment and its stored config; with ``delete_artifacts`` also
    ``runs/<name>``, unless another experiment uses that folder."""
    settings = services.settings
    with services.db.session() as session:
        deleted = crud.delete(session, experiment_id)
    shutil.rmtree(settings.experiments_dir / experiment_id, ignore_errors=True)
    if not delete_artifacts:
        return Removal(False, "")
    if deleted.sharing is not None:
        return Removal(False, f"runs/{deleted.name} kept: experiment {deleted.sharing} uses it too")
    try:
        target = resolve_inside(settings.runs_dir, deleted.name)
    except OutsideRoot:
        return Removal(False, "")
    if target != settings.runs_dir.resolve() and target.is_dir():
        shutil.rmtree(target)
        return Removal(True, "")
    return Removal(False, "")
