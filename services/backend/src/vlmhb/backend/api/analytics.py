"""``/analytics/{id}``: Plotly figure JSON of an experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select

from vlmhb.backend.analytics import experiment_figures, to_json
from vlmhb.backend.api.experiments import ExperimentId
from vlmhb.backend.db.models import Experiment, Run
from vlmhb.backend.paths import OutsideRoot, resolve_inside
from vlmhb.backend.schemas import INVALID, NOT_FOUND, SECURED_RESPONSES, Analytics
from vlmhb.backend.services import Services, get_services

router = APIRouter(tags=["analytics"], responses={**SECURED_RESPONSES, **INVALID})


@router.get("/analytics/{experiment_id}", response_model=Analytics, responses=NOT_FOUND)
def analytics(
    experiment_id: ExperimentId,
    services: Annotated[Services, Depends(get_services)],
    metric: Annotated[
        str | None, Query(max_length=100, description="quality metric for the scatter and heatmap")
    ] = None,
) -> Analytics:
    """Leaderboard bars, quality-vs-latency scatter with the Pareto front, per-document-
    class heatmap and latency distributions (``figure.to_plotly_json()`` each)."""
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
        exp_dir = resolve_inside(root, name)
        run_dirs: list[Path] = [resolve_inside(root, f"{name}/{run}") for run in names]
    except OutsideRoot:
        raise HTTPException(404, "experiment folder outside the runs root") from None
    quality, figs = experiment_figures(exp_dir, run_dirs, metric)
    return Analytics(
        experiment_id=experiment_id,
        quality_metrics=quality,
        figures={key: to_json(fig) for key, fig in figs.items()},
    )
