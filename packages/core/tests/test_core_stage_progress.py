"""``StageContext.progress``: at most ``PROGRESS_INTERVAL_S`` apart, never losing the
last count (the one held back goes out with ``flush``)."""

from __future__ import annotations

import time
from pathlib import Path

from vlmhb.core.contracts import Event, EventType, StageName, StageTask
from vlmhb.core.stages import PROGRESS_INTERVAL_S, StageContext


def context(tmp_path: Path) -> tuple[StageContext, list[Event]]:
    events: list[Event] = []
    task = StageTask(id="t", stage=StageName.INFERENCE, experiment="e", run_dir=tmp_path)
    return StageContext(task, events.append), events


def test_a_burst_of_updates_sends_the_first_and_flush_the_latest(tmp_path: Path) -> None:
    ctx, events = context(tmp_path)
    for done in range(1000):
        ctx.progress(done, 2000)
    assert [e.done for e in events] == [0]  # the rest came within one interval
    ctx.flush()
    ctx.flush()  # nothing held any more: nothing sent twice
    assert [(e.type, e.done, e.total) for e in events] == [
        (EventType.PROGRESS, 0, 2000),
        (EventType.PROGRESS, 999, 2000),
    ]


def test_the_last_count_and_messages_always_go_and_later_updates_do(tmp_path: Path) -> None:
    ctx, events = context(tmp_path)
    ctx.progress(1, 10)
    ctx.progress(2, 10, "resuming")
    ctx.progress(10, 10)
    time.sleep(PROGRESS_INTERVAL_S * 1.5)
    ctx.progress(11, 20)
    ctx.flush()
    assert [(e.done, e.message) for e in events] == [(1, ""), (2, "resuming"), (10, ""), (11, "")]
