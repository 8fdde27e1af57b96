"""Analytics figures of an experiment, built with ``vlmhb.reporting.figures``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from vlmhb.backend.run_files import to_float
from vlmhb.backend.schemas import LeaderboardRow
from vlmhb.reporting import figures
from vlmhb.reporting.experiment import ExperimentData, load_experiment

LATENCY_COLUMN = "latency_ms_p50"


def leaderboard_rows(data: ExperimentData) -> list[LeaderboardRow]:
    """The comparison table (best first by the sort metric): each run's macro values of
    the quality and timing metrics (None where a run lacks one)."""
    comparison = data.comparison
    metrics = [*data.quality_metrics, *data.timing_metrics]
    return [
        LeaderboardRow(
            run=str(row["run"]),
            model=str(row["model"]),
            task=str(row["task"]),
            prompt=str(row["prompt"]),
            values={m: to_float(row[m]) for m in metrics},
        )
        for row in comparison.to_dict("records")
    ]


def experiment_figures(
    exp_dir: Path, run_dirs: list[Path], metric: str | None = None
) -> tuple[ExperimentData, dict[str, go.Figure]]:
    """The runs' data and the figures ``quality_latency`` (scatter + Pareto front),
    ``heatmap`` (metric per document class × run) and ``latency`` (request latency
    distributions); figures without data are left out (the leaderboard is drawn by the
    UI from ``leaderboard_rows``, one panel per metric)."""
    data = load_experiment(exp_dir, run_dirs)
    quality = data.quality_metrics
    out: dict[str, go.Figure] = {}
    comparison = data.comparison
    if not quality or not len(comparison):
        return data, out
    ranked = data.higher_is_better  # from the runs' metrics_schema.json
    chosen = metric if metric in quality else (data.sort_metric or quality[0])
    latency = comparison.get(LATENCY_COLUMN)
    if chosen in ranked and latency is not None and latency.notna().any():
        out["quality_latency"] = figures.quality_latency_scatter(
            comparison, chosen, ranked[chosen], LATENCY_COLUMN
        )
    per_type = [
        frame.assign(question_type=run.name)[["doc_class", "question_type", chosen]]
        for run in data.runs
        if (frame := run.by_doc_type) is not None
        and chosen in frame.columns
        and "doc_class" in frame.columns
    ]
    if per_type:
        better = ranked.get(chosen, True)  # no direction: the plain colour scale
        heatmap = figures.metric_heatmap(pd.concat(per_type, ignore_index=True), chosen, better)
        heatmap.update_layout(title=f"{chosen} by document class and run", xaxis_title="run")
        out["heatmap"] = heatmap
    latencies = {
        run.name: run.answers["latency_ms"]
        for run in data.runs
        if run.answers is not None and "latency_ms" in run.answers.columns
    }
    if latencies:
        frame = pd.DataFrame(
            {name: pd.Series(values).reset_index(drop=True) for name, values in latencies.items()}
        )
        latency = figures.latency_histogram(frame, list(latencies))
        latency.update_layout(title="Request latency by run (ms)")
        out["latency"] = latency
    return data, out


def to_json(figure: go.Figure) -> dict[str, Any]:
    """``figure.to_plotly_json()`` made JSON-safe (numpy arrays to lists)."""
    import json

    from plotly.utils import PlotlyJSONEncoder

    parsed: dict[str, Any] = json.loads(json.dumps(figure.to_plotly_json(), cls=PlotlyJSONEncoder))
    return parsed
