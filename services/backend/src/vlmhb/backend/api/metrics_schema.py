"""Metric metadata (direction, unit, range, kind) of a run and of an experiment: what the
UI reads instead of guessing from a metric's name (``vlmhb.core.metric_info``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from vlmhb.backend.api.experiments import ExperimentId
from vlmhb.backend.api.run_lookup import find_experiment_dirs, find_run
from vlmhb.backend.api.samples import RunName
from vlmhb.backend.schemas import INVALID, NOT_FOUND, SECURED_RESPONSES
from vlmhb.backend.services import Services, get_services
from vlmhb.core.metric_info import MetricsSchema
from vlmhb.reporting.schema import stored_schema

router = APIRouter(tags=["metrics"], responses={**SECURED_RESPONSES, **INVALID})
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get(
    "/experiments/{experiment_id}/runs/{run}/metrics-schema",
    response_model=MetricsSchema,
    responses=NOT_FOUND,
)
def run_metrics_schema(
    experiment_id: ExperimentId, run: RunName, services: ServicesDep
) -> MetricsSchema:
    """The run's ``metrics_schema.json`` (runs evaluated before it existed: the metric
    registry's metadata; empty before evaluation)."""
    _, run_dir = find_run(services, experiment_id, run)
    return stored_schema(run_dir)


@router.get(
    "/experiments/{experiment_id}/metrics-schema",
    response_model=MetricsSchema,
    responses=NOT_FOUND,
)
def experiment_metrics_schema(experiment_id: ExperimentId, services: ServicesDep) -> MetricsSchema:
    """Every metric of the experiment's runs (the first run's entry where they differ)."""
    _, run_dirs = find_experiment_dirs(services, experiment_id)
    return MetricsSchema.merged(stored_schema(run_dir) for run_dir in run_dirs)
