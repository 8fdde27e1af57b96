"""The routes' shared dependencies and error mapping: ``ServicesDep``, the path's
``ExperimentId``, ``get_experiment_or_404`` (the one "unknown experiment" answer) and
``http_error`` (``vlmhb.backend.errors`` → ``HTTPException``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi import Path as PathParam

from vlmhb.backend.crud import experiments as crud
from vlmhb.backend.db.models import Experiment
from vlmhb.backend.errors import Conflict, NotFound, Unavailable
from vlmhb.backend.services import Services, get_services

ServicesDep = Annotated[Services, Depends(get_services)]
ExperimentId = Annotated[str, PathParam(min_length=1, max_length=64, description="experiment id")]
STATUS = {NotFound: 404, Conflict: 409, Unavailable: 503}


def http_error(exc: NotFound | Conflict | Unavailable) -> HTTPException:
    """The HTTP answer for an error of the layers below (``{"detail": message}``)."""
    return HTTPException(STATUS[type(exc)], str(exc))


def get_experiment_or_404(experiment_id: ExperimentId, services: ServicesDep) -> Experiment:
    """The path's experiment (detached from its session); 404 with the same body on every
    route when it is unknown."""
    with services.db.session() as session:
        experiment = crud.get(session, experiment_id)
    if experiment is None:
        raise http_error(crud.not_found(experiment_id))
    return experiment


ExperimentDep = Annotated[Experiment, Depends(get_experiment_or_404)]
