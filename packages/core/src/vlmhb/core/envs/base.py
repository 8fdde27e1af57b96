"""The ``EnvManager`` contract: prepare an environment, execute a stage task in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vlmhb.core.contracts import EnvSpec, Event, StageResult, StageTask

Emit = Callable[[Event], None]


@dataclass
class PreparedEnv:
    """A ready environment: the interpreter to start stages with."""

    python: str
    key: str = "current"
    cache_hit: bool = True
    info: dict[str, str] = field(default_factory=dict)


class EnvManager(Protocol):
    def prepare(self, env: EnvSpec) -> PreparedEnv:
        """Make ``env`` ready (install packages, build image); cached, idempotent."""
        ...

    async def execute(self, task: StageTask, emit: Emit) -> StageResult:
        """Run the stage (as ``vlmhb stage run <task.json>``), relaying its events.
        Cancelled, it stops the stage (SIGTERM, SIGKILL after ``Settings.stop_grace_s``)
        and returns its result: ``CANCELLED`` unless the stage finished meanwhile."""
        ...

    def cleanup(self) -> None:
        """Called once the experiment ends: release what is left (stray processes...)."""
        ...
