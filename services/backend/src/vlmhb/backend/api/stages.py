"""Stages of an experiment: the tries of one (``/attempts``) and its log tail (``/logs``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam

from vlmhb.backend.api.deps import ExperimentDep, ServicesDep
from vlmhb.backend.api.run_lookup import mirror_run
from vlmhb.backend.crud import stages as crud
from vlmhb.backend.crud.experiments import API
from vlmhb.backend.db.models import Experiment, StageTaskRow
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.schemas import INVALID, NOT_FOUND, SECURED_RESPONSES, StageAttempts, StageLog
from vlmhb.backend.services import Services
from vlmhb.backend.stage_logs import log_relpath, tail_lines

router = APIRouter(tags=["stages"], responses={**SECURED_RESPONSES, **INVALID})
TaskId = Annotated[str, PathParam(min_length=1, max_length=64, description="stage task id")]


def _no_stage(experiment: Experiment, task_id: str) -> HTTPException:
    return HTTPException(404, f"stage {task_id!r} not found in experiment {experiment.id}")


@router.get(
    "/experiments/{experiment_id}/stages/{task_id}/attempts",
    response_model=StageAttempts,
    responses=NOT_FOUND,
)
def get_stage_attempts(
    experiment: ExperimentDep, task_id: TaskId, services: ServicesDep
) -> StageAttempts:
    """Every try of the stage: host, GPUs, start, end, outcome and why it ended."""
    with services.db.session() as session:
        stage = crud.find(session, experiment.id, task_id)
        if stage is None:
            raise _no_stage(experiment, task_id)
        return crud.attempts(stage)


@router.get(
    "/experiments/{experiment_id}/stages/{task_id}/logs",
    response_model=StageLog,
    responses=NOT_FOUND,
)
def get_stage_logs(
    experiment: ExperimentDep,
    task_id: TaskId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="lines of each source")] = 200,
) -> StageLog:
    """The stage's last log events (later ones arrive live as ``log`` events on the
    WebSocket/SSE) and the tail of its log file ``logs/<stage>.log``."""
    with services.db.session() as session:
        stage = crud.find(session, experiment.id, task_id)
        if stage is None:
            raise _no_stage(experiment, task_id)
        lines = crud.log_lines(session, experiment.id, task_id, limit)
    file_url, file_tail = _log_file(services, experiment, stage, limit)
    return StageLog(task_id=task_id, lines=lines, file_url=file_url, file_tail=file_tail)


def _log_file(
    services: Services, experiment: Experiment, stage: StageTaskRow, lines: int
) -> tuple[str | None, list[str]]:
    """The artifact URL of the stage's log file and its last ``lines`` (None: no file)."""
    rel = log_relpath(experiment.name, stage.run_name, stage.stage)
    try:
        path = resolve_inside(services.settings.runs_dir, rel)
    except OutsideRoot:
        return None, []
    mirror_run(services, experiment, stage.run_name)
    if not path.is_file():
        return None, []
    return f"{API}/artifacts/{quote(rel)}", tail_lines(path, lines)
