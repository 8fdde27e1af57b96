"""Live CLI progress: a Rich bar per run (samples done/total, throughput, ETA) and a line
per stage state change, fed from the event bus."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vlmhb.core.contracts import Event, EventType, StageName, TaskState
from vlmhb.core.fileio import count_csv_rows
from vlmhb.core.files import PROBLEMS_FILE

STATE_STYLE = {
    TaskState.COMPLETED: "[green]done[/]",
    TaskState.SKIPPED: "[cyan]skipped[/]",
    TaskState.FAILED: "[red]FAILED[/]",
    TaskState.CANCELLED: "[yellow]cancelled[/]",
    TaskState.RUNNING: "[blue]running[/]",
}


def short_run_name(run_dir_name: str) -> str:
    """``model__task__prompt__hash`` → ``model · task · prompt``."""
    return run_dir_name.rsplit("__", 1)[0].replace("__", " · ")


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,
    )


ENDED = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.FAILED, TaskState.CANCELLED)


class ProgressView:
    """Turns bus events into Rich progress bars and state lines. With ``experiment_dir``
    an inference stage that ended warns about the bad dataset rows its run skipped."""

    def __init__(
        self, progress: Progress, verbose: bool = False, experiment_dir: Path | None = None
    ) -> None:
        self.progress = progress
        self.verbose = verbose
        self.experiment_dir = experiment_dir
        self._bars: dict[tuple[str | None, str | None], TaskID] = {}
        self._warned: set[str] = set()
        self.problems: dict[str, int] = {}  # run folder name -> bad rows skipped

    def __call__(self, event: Event) -> None:
        if event.type == EventType.PROGRESS and event.total:
            self._on_progress(event)
        elif event.type == EventType.STATE and event.state in STATE_STYLE:
            stage = event.stage.value if event.stage else ""
            label = f"{stage} {short_run_name(event.run or '')}".strip()
            shown = event.state in (TaskState.FAILED, TaskState.RUNNING)  # RUNNING: a retry
            message = f" — {event.message}" if shown and event.message else ""
            self.progress.console.print(f"{STATE_STYLE[event.state]} {label}{message}")
            if event.stage == StageName.INFERENCE and event.state in ENDED:
                self._warn_problems(event.run)
        elif event.type == EventType.LOG and self.verbose:
            self.progress.console.print(f"[dim]{event.run}: {event.message}[/]")

    def _warn_problems(self, run: str | None) -> None:
        if self.experiment_dir is None or not run or run in self._warned:
            return
        self._warned.add(run)
        path = self.experiment_dir / run / PROBLEMS_FILE
        count = count_csv_rows(path)
        if count:
            self.problems[run] = count
            self.progress.console.print(
                f"[yellow]warning:[/] {count} dataset row(s) of {short_run_name(run)} were "
                f"skipped as bad (missing/corrupt image, bad bbox, duplicate id, missing "
                f"prompt key): see {path}"
            )

    def _on_progress(self, event: Event) -> None:
        key = (event.run, event.stage.value if event.stage else None)
        done, total = event.done or 0, event.total or 0
        if key not in self._bars:
            stage = event.stage.value if event.stage else ""
            name = short_run_name(event.run or "")
            label = name if event.stage == StageName.INFERENCE else f"{stage} {name}"
            self._bars[key] = self.progress.add_task(
                label[:60], total=total, completed=done, rate=""
            )
            return
        bar = self._bars[key]
        self.progress.update(bar, completed=done, total=total)
        speed = self.progress.tasks[self.progress.task_ids.index(bar)].speed
        if speed:
            self.progress.update(bar, rate=f"{speed:.1f}/s")
