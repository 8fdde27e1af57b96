"""The ``process`` env manager: each stage is ``python -m vlmhb.core.cli.main stage run``
in a subprocess — of this interpreter, or of a cached venv with extra packages.

The stage reads its task from a private (0600) file holding the secrets, which it deletes
once read (``--consume``; the folder goes when the stage ends); ``.tasks/<stage>.json`` in
the run directory is the same task, secrets masked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import deque
from pathlib import Path

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
from vlmhb.core.proc import die_with_parent
from vlmhb.core.secrets import private_dir, revealed_json, write_private

LOGS_DIR = "logs"
STDERR_TAIL_LINES = 30


class ProcessEnvManager:
    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

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
        proc = await asyncio.create_subprocess_exec(
            prepared.python,
            "-m",
            "vlmhb.core.cli.main",
            "stage",
            "run",
            str(private_task),
            "--result",
            str(result_file),
            "--consume",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        try:
            with log_path.open("a", encoding="utf-8") as log:
                await asyncio.gather(
                    _relay_events(proc, task, emit, log), _collect_stderr(proc, log, tail)
                )
                code = await proc.wait()
        except asyncio.CancelledError:
            await _terminate(proc)
            raise
        duration = time.monotonic() - started
        if result_file.exists():
            result = StageResult.model_validate_json(result_file.read_text(encoding="utf-8"))
            result.duration_s = duration
            return result
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.FAILED,
            duration_s=duration,
            message=f"stage process exited with code {code}; last output "
            f"(full log: {log_path}):\n" + "\n".join(tail),
        )

    def cleanup(self) -> None:
        """Venvs are a cache shared by runs; nothing per-run to remove."""


async def _relay_events(
    proc: asyncio.subprocess.Process, task: StageTask, emit: Emit, log: object
) -> None:
    assert proc.stdout is not None
    async for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        try:
            emit(Event.model_validate(json.loads(line)))
        except (ValueError, TypeError):
            emit(
                Event(
                    type=EventType.LOG,
                    topic=task.experiment,
                    task_id=task.id,
                    run=task.run_dir.name,
                    stage=task.stage,
                    message=line,
                    ts=time.time(),
                )
            )


async def _collect_stderr(proc: asyncio.subprocess.Process, log: object, tail: deque[str]) -> None:
    assert proc.stderr is not None
    async for raw in proc.stderr:
        line = raw.decode("utf-8", "replace")
        log.write(line)  # type: ignore[attr-defined]
        tail.append(line.rstrip("\n"))


async def _terminate(proc: asyncio.subprocess.Process, grace_s: float = 5.0) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
