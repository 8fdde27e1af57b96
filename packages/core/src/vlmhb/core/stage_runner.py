"""``vlmhb stage run <task.json>``: the one entry point every environment starts.

Loads the ``StageTask``, finds the stage class in the stage registry, runs it with a
context that prints events as JSON lines on stdout, and writes the ``StageResult`` JSON
to ``--result``. A SIGTERM asks the stage to stop (``ctx.cancelled``); a second one ends
the process. The stage runs under an exclusive lock on its task folder, so a process
left from a killed orchestrator and a new one never write the same files at once.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from vlmhb.core.contracts import Event, StageResult, StageTask, TaskState
from vlmhb.core.errors import VlmhbError
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import TASKS_DIR
from vlmhb.core.proc import exclusive_lock
from vlmhb.core.registries import get_registries
from vlmhb.core.stages import StageContext


def _print_event(event: Event) -> None:
    sys.stdout.write(event.model_dump_json(exclude_none=True) + "\n")
    sys.stdout.flush()


def run_stage_file(task_file: Path, result_file: Path, consume: bool = False) -> int:
    """Run the task in ``task_file``; with ``consume`` the file (a private copy holding
    secrets) is deleted as soon as it is read, so a crash later leaves nothing behind."""
    task = StageTask.model_validate_json(task_file.read_text(encoding="utf-8"))
    if consume:
        task_file.unlink(missing_ok=True)
    ctx = StageContext(task, _print_event)

    def on_term(signum: int, frame: FrameType | None) -> None:
        if ctx.cancelled.is_set():
            os._exit(128 + signum)
        ctx.cancelled.set()

    signal.signal(signal.SIGTERM, on_term)
    lock = task.run_dir / TASKS_DIR / f"{task.stage.value}.lock"
    with exclusive_lock(
        lock,
        lambda: ctx.log(
            "waiting for an earlier process of this stage to end (one writer per run directory)"
        ),
    ):
        return _run(task, ctx, result_file)


def _run(task: StageTask, ctx: StageContext, result_file: Path) -> int:
    started = time.monotonic()
    ctx.log(
        f"stage {task.stage.value} started: pid={os.getpid()} python={sys.executable} "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}"
    )
    try:
        stage = get_registries(task.registry_dirs).stages.get(task.stage.value)()
        result = stage.run(task, ctx)
    except VlmhbError as exc:
        result = StageResult(
            task_id=task.id, stage=task.stage, status=TaskState.FAILED, message=str(exc)
        )
    except Exception as exc:
        traceback.print_exc()
        result = StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.FAILED,
            message=f"{type(exc).__name__}: {exc}",
        )
    ctx.flush()
    result.duration_s = time.monotonic() - started
    atomic_write_text(result_file, result.model_dump_json(indent=2))
    return 0 if result.status == TaskState.COMPLETED else 1
