"""``vlmhb run``: the orchestrator with a live progress view and a closing summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from vlmhb.core.cli.progress import ProgressView, make_progress
from vlmhb.core.config.checks import check_output_dir
from vlmhb.core.contracts import ExperimentSpec, StageName, TaskState
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.core.orchestration.orchestrator import ExperimentOutcome, Orchestrator

SUMMARY_METRICS = 5


async def run_experiment_cli(
    spec: ExperimentSpec, config_path: Path, console: Console, *, force: bool, verbose: bool
) -> bool:
    check_output_dir(spec, str(config_path))
    bus = InProcessEventBus()
    orchestrator = Orchestrator(spec, bus=bus, config_path=config_path, force=force)
    graph = orchestrator.plan()
    console.print(
        f"[bold]{spec.name}[/]: {len(graph.runs)} run(s), {len(graph.tasks)} "
        f"stage task(s) → {graph.experiment_dir}"
    )
    with make_progress(console) as progress:
        bus.add_listener(ProgressView(progress, verbose, graph.experiment_dir))
        outcome = await orchestrator.run(graph)
    _summary(outcome, console)
    return outcome.ok


def _summary(outcome: ExperimentOutcome, console: Console) -> None:
    table = Table(title="runs")
    table.add_column("run")
    table.add_column("inference")
    table.add_column("quality (general, macro)")
    for run in outcome.graph.runs:
        run_dir = outcome.graph.run_dir(run)
        results = {
            t.stage: outcome.results.get(t.id) for t in outcome.graph if t.run_dir == run_dir
        }
        inference = results.get(StageName.INFERENCE)
        evaluation = results.get(StageName.EVALUATION)
        status = inference.status.value if inference else "-"
        quality = ""
        if evaluation and evaluation.status in (TaskState.COMPLETED, TaskState.SKIPPED):
            numbers = [(k, v) for k, v in evaluation.summary.items() if isinstance(v, int | float)][
                :SUMMARY_METRICS
            ]
            quality = ", ".join(f"{k}={v:.3f}" for k, v in numbers)
        elif evaluation:
            quality = f"[red]{evaluation.status.value}[/] {evaluation.message[:80]}"
        table.add_row(run_dir.name, status, quality)
    console.print(table)
    for result in outcome.failed:
        console.print(f"[red]FAILED[/] {result.stage.value} {result.task_id}: {result.message}")
    report = outcome.graph.experiment_dir / "report.html"
    if report.exists():
        console.print(f"experiment report: {report}")
