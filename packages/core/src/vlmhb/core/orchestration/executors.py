"""Executor kinds: how the stage tasks of an experiment are executed, picked by name.

An executor kind (entry-point group ``vlmhb.executors``; built-in ``local``) is a factory
``(settings, envs) -> ExecutorSetup``: the ``Executor`` the scheduler submits to and the
``ResourceManager`` it allocates from before each submit. ``local`` runs stages in this
process's event loop on this host's GPUs and CPU slots; a remote kind (``celery``, from
``vlmhb-worker``) places stages on other hosts, so its resource manager only bounds how
many are in flight. Chosen by ``vlmhb run --executor`` or ``VLMHB_EXECUTOR``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vlmhb.core.envs.select import EnvManagers
from vlmhb.core.orchestration.executor import Executor, LocalExecutor
from vlmhb.core.orchestration.resources import ResourceManager
from vlmhb.core.registry import Registry
from vlmhb.core.settings import Settings


@dataclass
class ExecutorSetup:
    executor: Executor
    resources: ResourceManager


ExecutorFactory = Callable[[Settings, EnvManagers], ExecutorSetup]
LOCAL = "local"


def local_executor(settings: Settings, envs: EnvManagers) -> ExecutorSetup:
    """Stages as tasks of this event loop, through the env manager of their kind."""
    return ExecutorSetup(LocalExecutor(envs), ResourceManager.from_settings(settings))


def register_builtin_executors(registry: Registry[ExecutorFactory]) -> None:
    registry.register(LOCAL, local_executor, "built-in", "stages run on this host (the default)")
