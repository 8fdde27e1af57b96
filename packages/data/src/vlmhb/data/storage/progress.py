"""Transfer progress for the CLI: a Rich bar (files, bytes, throughput, ETA) on a
terminal; plain lines with the same figures when the output is piped."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vlmhb.core.storage import SyncProgress

LINE_EVERY_S = 2.0


def progress_line(done: SyncProgress) -> str:
    """``sync s3://b/p: 12/40 files, 3.1 MB/10.2 MB, 5.3 MB/s, ETA 2 s``."""
    eta = f", ETA {done.eta_s:.0f} s" if done.eta_s is not None and not _finished(done) else ""
    return (
        f"{done.what}: {done.files_done}/{done.files_total} files, "
        f"{decimal(done.bytes_done)}/{decimal(done.bytes_total)}, "
        f"{decimal(int(done.throughput_bps))}/s{eta}, {done.elapsed_s:.1f} s"
    )


def _finished(done: SyncProgress) -> bool:
    return done.files_done >= done.files_total


class TransferProgress:
    """A ``ProgressFn`` for ``console``; use it as a context manager around the transfer."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.last_line: dict[str, float] = {}
        self.ended: set[str] = set()

    def __enter__(self) -> TransferProgress:
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[files]} files"),
                DownloadColumn(),
                TransferSpeedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, done: SyncProgress) -> None:
        if self.bar is not None:
            self._update_bar(self.bar, done)
        else:
            self._line(done)

    def _update_bar(self, bar: Progress, done: SyncProgress) -> None:
        files = f"{done.files_done}/{done.files_total}"
        if done.what not in self.tasks:
            self.tasks[done.what] = bar.add_task(done.what, total=done.bytes_total, files=files)
        bar.update(self.tasks[done.what], completed=done.bytes_done, files=files)

    def _line(self, done: SyncProgress) -> None:
        """A line every ``LINE_EVERY_S`` seconds, and one when the transfer ends."""
        now = time.monotonic()
        finished = _finished(done)
        if done.what in self.ended:
            return
        if not finished and now - self.last_line.get(done.what, 0.0) < LINE_EVERY_S:
            return
        self.last_line[done.what] = now
        if finished:
            self.ended.add(done.what)
        self.console.print(progress_line(done), markup=False, highlight=False, soft_wrap=True)
