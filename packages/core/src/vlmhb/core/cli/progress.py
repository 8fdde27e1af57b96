"""Live CLI progress fed from the event bus: a line per stage state change, and per stage a
Rich bar (done/total, throughput, ETA) on a terminal, or, when the output is piped (CI,
``tee``), a plain line at most every ``PLAIN_INTERVAL_S`` and when the stage's work is done.
A rate is shown for inference only (samples/s); evaluation and reports are too quick for one
to mean anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
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


PLAIN_INTERVAL_S = 5.0


def make_progress(console: Console) -> Progress:
    """Rich bars on a terminal; disabled (``ProgressView`` prints plain lines) otherwise."""
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
        disable=not console.is_terminal,
    )


ENDED = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.FAILED, TaskState.CANCELLED)


@dataclass
class _PlainBar:
    label: str
    started: float
    first_done: int
    printed: float
    finished: bool = False


class ProgressView:
    """Turns bus events into progress bars (plain lines when the console is not a terminal)
    and state lines. With ``experiment_dir`` an inference stage that ended warns about the
    bad dataset rows its run skipped."""

    def __init__(
        self,
        progress: Progress,
        verbose: bool = False,
        experiment_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress = progress
        self.verbose = verbose
        self.experiment_dir = experiment_dir
        self.plain = not progress.console.is_terminal
        self.clock = clock
        self._plain: dict[tuple[str | None, str | None], _PlainBar] = {}
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
        stage = event.stage.value if event.stage else ""
        label = f"{stage} {short_run_name(event.run or '')}".strip()[:70]
        with_rate = event.stage == StageName.INFERENCE
        if self.plain:
            self._plain_line(key, label, done, total, with_rate)
            return
        if key not in self._bars:
            self._bars[key] = self.progress.add_task(label, total=total, completed=done, rate="")
            return
        bar = self._bars[key]
        self.progress.update(bar, completed=done, total=total)
        speed = self.progress.tasks[self.progress.task_ids.index(bar)].speed
        if speed and with_rate:
            self.progress.update(bar, rate=f"{speed:.1f}/s")

    def _plain_line(
        self, key: tuple[str | None, str | None], label: str, done: int, total: int, rate: bool
    ) -> None:
        now = self.clock()
        bar = self._plain.get(key)
        if bar is None:
            bar = self._plain[key] = _PlainBar(label, now, done, now - PLAIN_INTERVAL_S)
        complete = done >= total
        if bar.finished or (not complete and now - bar.printed < PLAIN_INTERVAL_S):
            return
        bar.printed, bar.finished = now, complete
        line = f"{label}: {done}/{total} ({100 * done // max(total, 1)}%)"
        elapsed = now - bar.started
        speed = (done - bar.first_done) / elapsed if elapsed > 0 else 0.0
        if rate and speed > 0:
            line += f", {speed:.1f}/s"
            if not complete:
                eta = timedelta(seconds=round((total - done) / speed))
                line += f", ETA {eta}"
        self.progress.console.print(line, highlight=False, markup=False)
