"""Metric metadata (direction, unit, range, kind) of a run and of an experiment: what the
UI reads instead of guessing from a metric's name (``vlmhb.core.metric_info``)."""

from __future__ import annotations

from fastapi import APIRouter

from vlmhb.backend.api.deps import ExperimentDep, ServicesDep
from vlmhb.backend.api.run_lookup import RunDep, find_experiment_dirs
from vlmhb.backend.schemas import INVALID, NOT_FOUND, SECURED_RESPONSES
from vlmhb.core.metric_info import MetricsSchema
from vlmhb.reporting.schema import stored_schema

router = APIRouter(tags=["metrics"], responses={**SECURED_RESPONSES, **INVALID})


@router.get(
    "/experiments/{experiment_id}/runs/{run}/metrics-schema",
    response_model=MetricsSchema,
    responses=NOT_FOUND,
)
def run_metrics_schema(found: RunDep) -> MetricsSchema:
    """The run's ``metrics_schema.json`` (runs evaluated before it existed: the metric
    registry's metadata; empty before evaluation)."""
    return stored_schema(found.path)


@router.get(
    "/experiments/{experiment_id}/metrics-schema",
    response_model=MetricsSchema,
    responses=NOT_FOUND,
)
def experiment_metrics_schema(experiment: ExperimentDep, services: ServicesDep) -> MetricsSchema:
    """Every metric of the experiment's runs (the first run's entry where they differ)."""
    _, run_dirs = find_experiment_dirs(services, experiment)
    return MetricsSchema.merged(stored_schema(run_dir) for run_dir in run_dirs)
