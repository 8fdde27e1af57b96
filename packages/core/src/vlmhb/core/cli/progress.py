"""Live CLI progress: a Rich bar per run (samples done/total, throughput, ETA) and a line
per stage state change, fed from the event bus."""

from __future__ import annotations

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

STATE_STYLE = {TaskState.COMPLETED: "[green]done[/]", TaskState.SKIPPED: "[cyan]skipped[/]",
               TaskState.FAILED: "[red]FAILED[/]", TaskState.CANCELLED: "[yellow]cancelled[/]",
               TaskState.RUNNING: "[blue]running[/]"}


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


class ProgressView:
    """Turns bus events into Rich progress bars and state lines."""

    def __init__(self, progress: Progress, verbose: bool = False) -> None:
        self.progress = progress
        self.verbose = verbose
        self._bars: dict[tuple[str | None, str | None], TaskID] = {}

    def __call__(self, event: Event) -> None:
        if event.type == EventType.PROGRESS and event.total:
            self._on_progress(event)
        elif event.type == EventType.STATE and event.state in STATE_STYLE:
            stage = event.stage.value if event.stage else ""
            label = f"{stage} {short_run_name(event.run or '')}".strip()
            message = f" — {event.message}" if event.state == TaskState.FAILED else ""
            self.progress.console.print(f"{STATE_STYLE[event.state]} {label}{message}")
        elif event.type == EventType.LOG and self.verbose:
            self.progress.console.print(f"[dim]{event.run}: {event.message}[/]")

    def _on_progress(self, event: Event) -> None:
        key = (event.run, event.stage.value if event.stage else None)
        done, total = event.done or 0, event.total or 0
        if key not in self._bars:
            stage = event.stage.value if event.stage else ""
            name = short_run_name(event.run or "")
            label = name if event.stage == StageName.INFERENCE else f"{stage} {name}"
            self._bars[key] = self.progress.add_task(label[:60], total=total, completed=done,
                                                     rate="")
            return
        bar = self._bars[key]
        self.progress.update(bar, completed=done, total=total)
        speed = self.progress.tasks[self.progress.task_ids.index(bar)].speed
        if speed:
            self.progress.update(bar, rate=f"{speed:.1f}/s")
