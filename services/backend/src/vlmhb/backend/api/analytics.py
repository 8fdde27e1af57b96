"""``/analytics/{id}``: Plotly figure JSON of an experiment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vlmhb.backend.analytics import experiment_figures, leaderboard_rows, to_json
from vlmhb.backend.api.deps import ExperimentDep, ServicesDep
from vlmhb.backend.api.run_lookup import find_experiment_dirs
from vlmhb.backend.schemas import INVALID, NOT_FOUND, SECURED_RESPONSES, Analytics

router = APIRouter(tags=["analytics"], responses={**SECURED_RESPONSES, **INVALID})


@router.get("/analytics/{experiment_id}", response_model=Analytics, responses=NOT_FOUND)
def analytics(
    experiment: ExperimentDep,
    services: ServicesDep,
    metric: Annotated[
        str | None, Query(max_length=100, description="quality metric for the scatter and heatmap")
    ] = None,
) -> Analytics:
    """The leaderboard (each run's macro metric values, best first), quality-vs-latency
    scatter with the Pareto front, per-document-class heatmap and latency distributions
    (``figure.to_plotly_json()`` each)."""
    exp_dir, run_dirs = find_experiment_dirs(services, experiment)
    data, figs = experiment_figures(exp_dir, run_dirs, metric)
    return Analytics(
        experiment_id=experiment.id,
        quality_metrics=data.quality_metrics,
        timing_metrics=data.timing_metrics,
        leaderboard=leaderboard_rows(data),
        figures={key: to_json(fig) for key, fig in figs.items()},
    )
