"""The ``process`` env manager: each stage is ``python -m vlmhb.core.cli.main stage run``
in a subprocess — of this interpreter, or of a cached venv with extra packages.

The stage reads its task from a private (0600) file holding the secrets, which it deletes
once read (``--consume``; the folder goes when the stage ends); ``.tasks/<stage>.json`` in
the run directory is the same task, secrets masked.

Cancelling ``execute`` stops the stage process (``ChildProcess.stop``: SIGTERM, which asks
the stage to finish what is in flight and write its result, then SIGKILL after
``stop_grace_s``; cancelled a second time, SIGKILL at once) and returns the stage's own
result, or a ``CANCELLED`` one when it wrote none."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from vlmhb.core.childproc import ChildProcess
from vlmhb.core.contracts import (
    EnvSpec,
    Event,
    EventType,
    StageResult,
    StageTask,
    TaskState,
)
from vlmhb.core.envs.base import Emit, PreparedEnv
from vlmhb.core.envs.venv_cache import prepare_venv
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import TASKS_DIR
from vlmhb.core.secrets import private_dir, revealed_json, write_private

LOGS_DIR = "logs"
STDERR_TAIL_LINES = 30


class ProcessEnvManager:
    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._children: set[ChildProcess] = set()

    def prepare(self, env: EnvSpec) -> PreparedEnv:
        if not env.packages:
            return PreparedEnv(sys.executable)
        return prepare_venv(env, self.cache_dir)

    async def execute(self, task: StageTask, emit: Emit) -> StageResult:
        with private_dir("vlmhb-task-") as private:
            return await self._execute(
                task, emit, write_private(private / "task.json", revealed_json(task))
            )

    async def _execute(self, task: StageTask, emit: Emit, private_task: Path) -> StageResult:
        started = time.monotonic()
        prepared = await asyncio.to_thread(self.prepare, task.env)
        task_file = task.run_dir / TASKS_DIR / f"{task.stage.value}.json"
        result_file = task_file.with_suffix(".result.json")
        result_file.unlink(missing_ok=True)
        atomic_write_text(task_file, task.model_dump_json(indent=2))
        log_path = task.run_dir / LOGS_DIR / f"{task.stage.value}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in task.gpu_ids),
        }
        loop = asyncio.get_running_loop()
        relay = _EventRelay(task, emit)
        with log_path.open("a", encoding="utf-8") as log:
            child = ChildProcess.start(
                f"stage {task.stage.value} of run {task.run_dir.name}",
                [
                    prepared.python,
                    "-m",
                    "vlmhb.core.cli.main",
                    "stage",
                    "run",
                    str(private_task),
                    "--result",
                    str(result_file),
                    "--consume",
                ],
                env=env,
                stdout=lambda line: loop.call_soon_threadsafe(relay, line),
                stderr=lambda line: log.write(line + "\n"),
                tail_lines=STDERR_TAIL_LINES,
            )
            self._children.add(child)
            cancelled = False
            try:
                code = await child.wait_async()
            except asyncio.CancelledError:
                cancelled = True
                code = await _stop(child)
            finally:
                self._children.discard(child)
        duration = time.monotonic() - started
        if result_file.exists():
            result = StageResult.model_validate_json(result_file.read_text(encoding="utf-8"))
            result.duration_s = duration
            return result
        if cancelled:
            return StageResult(
                task_id=task.id,
                stage=task.stage,
                status=TaskState.CANCELLED,
                duration_s=duration,
                message=f"cancelled: the stage process was stopped (exit code {code})",
            )
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.FAILED,
            duration_s=duration,
            message=f"stage process exited with code {code}; last output "
            f"(full log: {log_path}):\n" + child.tail(),
        )

    def cleanup(self) -> None:
        """Kill stage processes still running (they were asked to stop and did not wait
        to end). Venvs are a cache shared by runs: they stay."""
        for child in list(self._children):
            child.stop(grace_s=0)
        self._children.clear()


async def _stop(child: ChildProcess) -> int:
    """SIGTERM, SIGKILL after the grace; cancelled again meanwhile: SIGKILL now."""
    try:
        return await child.stop_async()
    except asyncio.CancelledError:
        return await child.stop_async(grace_s=0)


class _EventRelay:
    """Turns the stage's stdout lines into events (plain lines become log events)."""

    def __init__(self, task: StageTask, emit: Emit) -> None:
        self.task = task
        self.emit = emit

    def __call__(self, line: str) -> None:
        try:
            self.emit(Event.model_validate(json.loads(line)))
        except (ValueError, TypeError):
            self.emit(
                Event(
                    type=EventType.LOG,
                    topic=self.task.experiment,
                    task_id=self.task.id,
                    run=self.task.run_dir.name,
                    stage=self.task.stage,
                    message=line,
                    ts=time.time(),
                )
            )
