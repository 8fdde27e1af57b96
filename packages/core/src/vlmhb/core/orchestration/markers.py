"""Completion markers: ``.done/<stage>.json`` holds the id of the finished stage task."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vlmhb.core.contracts import EarlierRun, StageResult, StageTask
from vlmhb.core.fileio import atomic_write_json
from vlmhb.core.rundir import RunDir


def marker_path(task: StageTask) -> Path:
    return RunDir(task.run_dir).marker_path(task.stage.value)


def is_done(task: StageTask) -> bool:
    """True when the marker holds this task's id and its outputs still exist."""
    path = marker_path(task)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("task_id") == task.id and all(
        (task.run_dir / name).exists() for name in data.get("outputs", [])
    )


def mark_done(task: StageTask, result: StageResult) -> None:
    atomic_write_json(
        marker_path(task),
        {
            "task_id": task.id,
            "stage": task.stage.value,
            "finished_at": time.time(),
            "outputs": result.outputs,
            "summary": result.summary,
            "duration_s": result.duration_s,
        },
    )


def read_marker(task: StageTask) -> dict[str, object]:
    try:
        data: dict[str, object] = json.loads(marker_path(task).read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {}


def earlier_run(task: StageTask) -> EarlierRun | None:
    """When the finished stage recorded in ``task``'s marker ended and how long it ran;
    None for a marker without times."""
    marker = read_marker(task)
    finished, duration = marker.get("finished_at"), marker.get("duration_s")
    if not isinstance(finished, int | float) or not isinstance(duration, int | float):
        return None
    return EarlierRun(finished_at=float(finished), duration_s=float(duration))
