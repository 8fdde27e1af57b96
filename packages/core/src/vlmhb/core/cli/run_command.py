"""``vlmhb run``: the orchestrator with a live progress view and a closing summary.

SIGINT (Ctrl-C) or SIGTERM cancels the experiment (``Orchestrator.cancel``): the running
stages get SIGTERM, then SIGKILL after ``VLMHB_STOP_GRACE_S``; finished samples are kept
and the same command resumes. A second signal stops them without the grace."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from vlmhb.core.cli.progress import ProgressView, make_progress
from vlmhb.core.cli.results_table import results_tables
from vlmhb.core.config.checks import check_output_dir
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.orchestration.events import InProcessEventBus
from vlmhb.core.orchestration.orchestrator import ExperimentOutcome, Orchestrator
from vlmhb.core.registries import get_registries
from vlmhb.core.settings import Settings

EXIT_CANCELLED = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def cancel_on_signals(orchestrator: Orchestrator, console: Console) -> Iterator[None]:
    """While the block runs, SIGINT/SIGTERM cancel ``orchestrator`` instead of killing us."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        again = orchestrator.cancelled
        console.print(
            f"[yellow]{signal.Signals(signum).name}[/]: "
            + (
                "stopping the stages now (SIGKILL)"
                if again
                else "stopping the running stages (finished samples are kept; "
                "signal again to stop them at once)"
            )
        )
        orchestrator.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def run_experiment_cli(
    spec: ExperimentSpec,
    config_path: Path,
    console: Console,
    *,
    force: bool,
    verbose: bool,
    executor: str | None = None,
) -> int:
    """Run the experiment; the exit code (0 ok, 1 a stage failed, 130 cancelled).
    ``executor``: the executor kind (default: ``Settings.executor``)."""
    check_output_dir(spec, str(config_path))
    settings = Settings()
    if executor is not None:
        settings.executor = executor
    get_registries(spec.registry_dirs).executors.check(settings.executor)
    bus = InProcessEventBus()
    orchestrator = Orchestrator(
        spec, settings=settings, bus=bus, config_path=config_path, force=force
    )
    graph = orchestrator.plan()
    console.print(
        f"[bold]{spec.name}[/]: {len(graph.runs)} run(s), {len(graph.tasks)} "
        f"stage task(s) → {graph.experiment_dir}"
    )
    with make_progress(console) as progress, cancel_on_signals(orchestrator, console):
        bus.add_listener(ProgressView(progress, verbose, graph.experiment_dir))
        outcome = await orchestrator.run(graph)
    _summary(outcome, console)
    if outcome.cancelled:
        return EXIT_CANCELLED
    return 0 if outcome.ok else 1


def _summary(outcome: ExperimentOutcome, console: Console) -> None:
    for table in results_tables(outcome, console.width):
        console.print(table)
    for result in outcome.failed:
        console.print(f"[red]FAILED[/] {result.stage.value} {result.task_id}: {result.message}")
    report = outcome.graph.experiment_dir / "report.html"
    if report.exists():
        console.print(f"experiment report: {report}")
