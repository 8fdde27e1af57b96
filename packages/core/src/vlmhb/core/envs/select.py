"""Picking the ``EnvManager`` for a stage by ``task.env.kind`` from the env registry.

An env registry entry (entry-point group ``vlmhb.envs``; built-in ``process``) is an
``EnvManager`` class, constructed once per kind with the env cache folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlmhb.core.contracts import StageResult, StageTask
from vlmhb.core.envs.base import Emit, EnvManager
from vlmhb.core.envs.stage_data import run_with_data
from vlmhb.core.registry import Registry

EnvFactory = Callable[[Path], EnvManager]


def _process_manager() -> EnvFactory:
    from vlmhb.core.envs.process import ProcessEnvManager

    return ProcessEnvManager


def register_builtin_envs(registry: Registry[EnvFactory]) -> None:
    registry.register_lazy(
        "process",
        _process_manager,
        "built-in",
        "a subprocess of this interpreter, or of a cached venv with env.packages installed",
    )


class EnvManagers:
    """One ``EnvManager`` per env kind, made on first use from ``registry``."""

    def __init__(self, cache_dir: Path, registry: Registry[EnvFactory]) -> None:
        self.cache_dir = cache_dir
        self.registry = registry
        self._managers: dict[str, EnvManager] = {}

    def for_kind(self, kind: str) -> EnvManager:
        """The manager of env ``kind``; ``UnknownNameError`` (did-you-mean) if absent."""
        if kind not in self._managers:
            self._managers[kind] = self.registry.get(kind)(self.cache_dir)
        return self._managers[kind]

    async def run(self, task: StageTask, emit: Emit) -> StageResult:
        """``task`` through the manager of its env kind, its data synced to this node
        before and its outputs pushed after (``vlmhb.core.envs.stage_data``)."""
        return await run_with_data(self.for_kind(task.env.kind), task, emit)

    def cleanup(self) -> None:
        for manager in self._managers.values():
            manager.cleanup()
