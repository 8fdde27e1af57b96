"""Labels of the containers the docker env starts, and who started them.

Every container gets ``vlmhb.experiment``, ``vlmhb.run``, ``vlmhb.stage``, ``vlmhb.attempt``,
``vlmhb.task`` (the task id), ``vlmhb.role`` (``stage`` or ``prepare``) and
``vlmhb.orchestrator``: ``<host>:<pid>:<start>`` of the process that runs the manager
(``start`` is the process's start time in clock ticks since boot, from ``/proc``, so a
reused pid is not taken for the same orchestrator). ``vlmhb envs gc`` removes containers
whose orchestrator is gone (see ``vlmhb.containers.gc``). Labels hold no secrets: only
names and ids.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from vlmhb.core.contracts import StageTask

PREFIX = "vlmhb."
EXPERIMENT = "vlmhb.experiment"
RUN = "vlmhb.run"
STAGE = "vlmhb.stage"
ATTEMPT = "vlmhb.attempt"
TASK = "vlmhb.task"
ROLE = "vlmhb.role"
ORCHESTRATOR = "vlmhb.orchestrator"
ROLE_STAGE = "stage"
ROLE_PREPARE = "prepare"


@dataclass(frozen=True)
class Orchestrator:
    """The process that started a container: host name, pid and the pid's start time."""

    host: str
    pid: int
    start: str

    @classmethod
    def current(cls) -> Orchestrator:
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()) or "")

    @classmethod
    def parse(cls, label: str) -> Orchestrator | None:
        """The orchestrator a ``vlmhb.orchestrator`` label names; None if malformed."""
        host, sep, rest = label.rpartition(":")
        host, sep2, pid = host.rpartition(":")
        if not (sep and sep2 and pid.isdigit()):
            return None
        return cls(host, int(pid), rest)

    def label(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """Whether this (local) process still runs: its pid exists with the same start."""
        return process_start(self.pid) == self.start


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def stage_labels(task: StageTask, attempt: int, role: str = ROLE_STAGE) -> dict[str, str]:
    """The labels of a container running (or preparing the env of) ``task``."""
    return {
        EXPERIMENT: task.experiment,
        RUN: task.run_dir.name,
        STAGE: task.stage.value,
        ATTEMPT: str(attempt),
        TASK: task.id,
        ROLE: role,
        ORCHESTRATOR: Orchestrator.current().label(),
    }
