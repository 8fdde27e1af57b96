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
import os
import sys
import time
from pathlib import Path

from vlmhb.core.childproc import ChildProcess
from vlmhb.core.contracts import EnvSpec, StageResult, StageTask, TaskState
from vlmhb.core.envs.base import Emit, PreparedEnv
from vlmhb.core.envs.stage_io import EventRelay, StageFiles, stage_command, write_private_task
from vlmhb.core.envs.venv_cache import prepare_venv
from vlmhb.core.secrets import private_dir

STDERR_TAIL_LINES = 30


class ProcessEnvManager:
    """Runs each stage as a child process. A container env that runs the stage through a
    launcher program (``apptainer exec ...``) subclasses it and changes ``stage_argv``
    and ``stage_environ``: starting, cancelling, logs and results stay the same."""

    # exit codes that mean the launcher failed, not the stage (infrastructure failures)
    LAUNCHER_EXIT_CODES: frozenset[int] = frozenset()

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._children: set[ChildProcess] = set()

    def prepare(self, env: EnvSpec) -> PreparedEnv:
        if not env.packages:
            return PreparedEnv(sys.executable)
        return prepare_venv(env, self.cache_dir)

    def stage_argv(
        self, task: StageTask, prepared: PreparedEnv, private_task: Path, files: StageFiles
    ) -> list[str]:
        """The command line that runs the stage: no secret, only the private task's path."""
        return stage_command(prepared.python, private_task, files.result_file)

    def stage_environ(self, task: StageTask) -> dict[str, str]:
        """The environment of the stage process: this one, unbuffered, its GPUs."""
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in task.gpu_ids),
        }

    async def execute(self, task: StageTask, emit: Emit) -> StageResult:
        with private_dir("vlmhb-task-") as private:
            return await self._execute(task, emit, write_private_task(task, private))

    async def _execute(self, task: StageTask, emit: Emit, private_task: Path) -> StageResult:
        started = time.monotonic()
        prepared = await asyncio.to_thread(self.prepare, task.env)
        files = StageFiles.write(task)
        argv = self.stage_argv(task, prepared, private_task, files)
        loop = asyncio.get_running_loop()
        relay = EventRelay(task, emit)
        with files.log_path.open("a", encoding="utf-8") as log:
            child = ChildProcess.start(
                f"stage {task.stage.value} of run {task.run_dir.name}",
                argv,
                env=self.stage_environ(task),
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
        result = files.result(duration)
        if result is not None:
            return result
        if cancelled:
            return StageResult(
                task_id=task.id,
                stage=task.stage,
                status=TaskState.CANCELLED,
                duration_s=duration,
                message=f"cancelled: the stage process was stopped (exit code {code})",
            )
        launcher = code in self.LAUNCHER_EXIT_CODES
        return StageResult(
            task_id=task.id,
            stage=task.stage,
            status=TaskState.FAILED,
            duration_s=duration,
            message=f"{argv[0] if launcher else 'stage process'} exited with code {code}; "
            f"last output (full log: {files.log_path}):\n" + child.tail(),
            failure="infrastructure" if launcher else None,
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
