"""Sync-before-run: a stage's data brought to this node before it starts, its outputs
taken to storage after it ends (the data layer's one place in the execution path).

Wherever a stage runs (the ``local`` executor, a host agent), ``run_with_data`` wraps the
env manager's ``execute``:

- a dataset given by URI is synced into this node's cache (``DataStore.materialise``,
  held in use until the stage ends) and the task the stage gets names that local folder
  in ``run.dataset.path``: the stage never knows where its data came from;
- with ``results_uri``, files of the run folder(s) the stage reads that this node lacks
  are pulled first (a stage placed on another host finds its predecessor's outputs;
  local files are never overwritten), and after a ``COMPLETED`` stage its folder is
  pushed (only changed files).

A storage failure is an infrastructure failure (retried by the scheduler): the message
names the URI; the stage's own files are untouched.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

from vlmhb.core.contracts import (
    StageName,
    StageResult,
    StageTask,
    TaskState,
    failed_result,
    task_log,
)
from vlmhb.core.envs.base import Emit, EnvManager
from vlmhb.core.storage import ProgressFn, StorageError, SyncProgress, data_store, join_uri

# Files of a run folder never uploaded: the stage processes' locks (``.tasks/<stage>.lock``).
NOT_PUSHED = ("*.lock",)
PROGRESS_EVERY_S = 1.0


async def run_with_data(manager: EnvManager, task: StageTask, emit: Emit) -> StageResult:
    """``manager.execute(task)`` with the task's data synced before and pushed after."""
    started = time.monotonic()
    progress = _progress_events(task, emit)
    with ExitStack() as held:
        try:
            task = await asyncio.to_thread(_bring_inputs, task, held, progress)
        except StorageError as exc:
            return failed_result(
                task,
                f"could not sync the stage's data: {exc}",
                time.monotonic() - started,
                "infrastructure",
            )
        result = await manager.execute(task, emit)
    if result.status is TaskState.COMPLETED and task.results_uri:
        try:
            await asyncio.to_thread(push_stage_outputs, task, progress)
        except StorageError as exc:
            return failed_result(
                task,
                f"could not upload the results: {exc}",
                time.monotonic() - started,
                "infrastructure",
            )
    return result


def _bring_inputs(task: StageTask, held: ExitStack, progress: ProgressFn) -> StageTask:
    run = task.run
    if run is not None and run.dataset.uri:
        store = data_store(run.dataset.uri)
        local = held.enter_context(store.materialise(run.dataset.uri, progress))
        dataset = run.dataset.model_copy(update={"path": local})
        task = task.model_copy(update={"run": run.model_copy(update={"dataset": dataset})})
    if task.results_uri:
        store = data_store(task.results_uri)
        for folder in _folders_read(task):
            store.pull_folder(join_uri(task.results_uri, folder.name), folder, progress)
    return task


def _folders_read(task: StageTask) -> list[Path]:
    """The run folders a stage reads: its own, or every run's for the experiment report."""
    return list(task.run_dirs) if task.stage is StageName.EXPERIMENT_REPORT else [task.run_dir]


def push_stage_outputs(task: StageTask, progress: ProgressFn | None = None) -> int:
    """Push the folder of ``task`` to its ``results_uri`` (merged into what other hosts
    pushed there; only changed files): the run folder, or the experiment folder's own
    files for the experiment report. Called where the stage ran and again by the
    orchestrator once it has written the run's manifest and done marker."""
    assert task.results_uri is not None
    store = data_store(task.results_uri)
    exclude: tuple[str, ...] = NOT_PUSHED
    if task.stage is StageName.EXPERIMENT_REPORT:  # the runs' folders are pushed by their stages
        exclude = (*exclude, *(folder.name for folder in task.run_dirs))
    target = task.results_uri
    if task.stage is not StageName.EXPERIMENT_REPORT:
        target = join_uri(task.results_uri, task.run_dir.name)
    return store.push_folder(task.run_dir, target, exclude=exclude, progress=progress, merge=True)


def _progress_events(task: StageTask, emit: Emit) -> ProgressFn:
    """Transfer progress as log events (at most one a second, and the last one)."""
    last = [0.0]

    def report(done: SyncProgress) -> None:
        now = time.monotonic()
        finished = done.files_done >= done.files_total
        if not finished and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        eta = f", ETA {done.eta_s:.0f} s" if done.eta_s is not None and not finished else ""
        emit(
            task_log(
                task,
                f"{done.what}: {done.files_done}/{done.files_total} files, "
                f"{done.bytes_done / 1e6:.1f}/{done.bytes_total / 1e6:.1f} MB, "
                f"{done.throughput_bps / 1e6:.1f} MB/s{eta}",
            )
        )

    return report
