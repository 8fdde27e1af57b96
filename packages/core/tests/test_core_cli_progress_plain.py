"""Progress when the output is piped: plain lines at a steady interval and when a stage's
work is done (never bars that appear only at the end, cut); a rate and ETA for inference
only; the same ``stage model · task · prompt`` labels for every stage."""

from __future__ import annotations

import io

from rich.console import Console

from vlmhb.core.cli.progress import PLAIN_INTERVAL_S, ProgressView, make_progress
from vlmhb.core.contracts import Event, EventType, StageName

RUN = "qwen__vqa__plain__0123abcd"


def progress(stage: StageName, done: int, total: int) -> Event:
    return Event(
        type=EventType.PROGRESS, topic="e", run=RUN, stage=stage, done=done, total=total, ts=0.0
    )


def test_piped_progress_prints_lines_at_an_interval_and_at_the_end() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    now = [100.0]
    with make_progress(console) as bars:
        view = ProgressView(bars, clock=lambda: now[0])
        for done in range(0, 79):  # 78 samples, one every 0.25 s
            view(progress(StageName.INFERENCE, done, 78))
            now[0] += 0.25
        for done in (0, 40, 78):
            view(progress(StageName.EVALUATION, done, 78))
        view(progress(StageName.EVALUATION, 78, 78))  # a repeat of the end prints nothing
    lines = out.getvalue().splitlines()
    inference = [line for line in lines if line.startswith("inference qwen · vqa · plain")]
    # every PLAIN_INTERVAL_S of the 19.5 s, plus the end
    assert len(inference) == int(78 * 0.25 // PLAIN_INTERVAL_S) + 2, lines
    assert inference[0] == "inference qwen · vqa · plain: 0/78 (0%)"
    assert inference[1] == "inference qwen · vqa · plain: 20/78 (25%), 4.0/s, ETA 0:00:14"
    assert inference[-1] == "inference qwen · vqa · plain: 78/78 (100%), 4.0/s"
    evaluation = [line for line in lines if line.startswith("evaluation")]
    assert evaluation == [
        "evaluation qwen · vqa · plain: 0/78 (0%)",
        "evaluation qwen · vqa · plain: 78/78 (100%)",
    ]
    assert "\x1b" not in out.getvalue() and "━" not in out.getvalue()  # no bar drawing


def test_a_terminal_gets_bars_not_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with make_progress(console) as bars:
        view = ProgressView(bars)
        view(progress(StageName.INFERENCE, 0, 10))
        view(progress(StageName.INFERENCE, 5, 10))
        assert [t.description for t in bars.tasks] == ["inference qwen · vqa · plain"]
        assert bars.tasks[0].completed == 5
    assert "0/10 (0%)" not in out.getvalue()
