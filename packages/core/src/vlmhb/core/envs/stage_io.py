"""What every env manager shares to run a stage: its files, its command line, its events.

A stage runs as ``<python> -m vlmhb.core.cli.main stage run <private task> --result
<run_dir>/.tasks/<stage>.result.json --consume`` wherever it runs (a process, a
container). The private task file (0600, in a 0700 folder) holds the secrets and is
deleted by the stage once read; ``.tasks/<stage>.json`` is the same task, secrets masked.
The stage writes its ``StageResult`` to the result file, its events as JSON lines on
stdout (``EventRelay``) and its log on stderr (``logs/<stage>.log``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vlmhb.core.contracts import Event, StageResult, StageTask, task_log
from vlmhb.core.envs.base import Emit
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import TASKS_DIR
from vlmhb.core.secrets import revealed_json, write_private

LOGS_DIR = "logs"
PRIVATE_TASK = "task.json"


@dataclass(frozen=True)
class StageFiles:
    """The files of one stage in its run folder: the masked task, the result, the log."""

    task_file: Path
    result_file: Path
    log_path: Path

    @classmethod
    def of(cls, task: StageTask) -> StageFiles:
        task_file = task.run_dir / TASKS_DIR / f"{task.stage.value}.json"
        return cls(
            task_file=task_file,
            result_file=task_file.with_suffix(".result.json"),
            log_path=task.run_dir / LOGS_DIR / f"{task.stage.value}.log",
        )

    @classmethod
    def write(cls, task: StageTask) -> StageFiles:
        """Write the masked task (an old result removed, the log folder made)."""
        files = cls.of(task)
        files.result_file.unlink(missing_ok=True)
        atomic_write_text(files.task_file, task.model_dump_json(indent=2))
        files.log_path.parent.mkdir(parents=True, exist_ok=True)
        return files

    def result(self, duration_s: float) -> StageResult | None:
        """The result the stage wrote (its duration set), None if it wrote none."""
        if not self.result_file.exists():
            return None
        result = StageResult.model_validate_json(self.result_file.read_text(encoding="utf-8"))
        result.duration_s = duration_s
        return result


def write_private_task(task: StageTask, private: Path) -> Path:
    """The task with its secrets, as a 0600 file in the private folder ``private``."""
    return write_private(private / PRIVATE_TASK, revealed_json(task))


def stage_command(python: str, private_task: Path | str, result_file: Path) -> list[str]:
    """The command line of a stage: no secret on it, only the private task file's path."""
    return [
        python,
        "-m",
        "vlmhb.core.cli.main",
        "stage",
        "run",
        str(private_task),
        "--result",
        str(result_file),
        "--consume",
    ]


class EventRelay:
    """Turns the stage's stdout lines into events (plain lines become log events)."""

    def __init__(self, task: StageTask, emit: Emit) -> None:
        self.task = task
        self.emit = emit

    def __call__(self, line: str) -> None:
        try:
            self.emit(Event.model_validate(json.loads(line)))
        except (ValueError, TypeError):
            self.emit(task_log(self.task, line))
