"""The registries of one process: built-ins, entry points and registry YAML folders.

Folders come from an experiment's ``registry_dirs`` and the ``VLMHB_REGISTRY_DIRS``
environment variable (``os.pathsep``-separated). A YAML entry has a ``kind``:
``model`` (a model preset: ModelSpec fields), ``dataset`` (a DatasetSpec preset) or
``metric`` (a variant: ``base`` metric name + ``options`` for ``with_options``).
Env kinds (``envs``) are code: entry points ``vlmhb.envs`` and the built-in ``process``;
so are executor kinds (``executors``: entry points ``vlmhb.executors``, built-in ``local``)
and data stores by URI scheme (``storage``: entry points ``vlmhb.storage``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from vlmhb.core.envs.select import register_builtin_envs
from vlmhb.core.errors import ConfigError
from vlmhb.core.orchestration.executors import ExecutorFactory, register_builtin_executors
from vlmhb.core.registry import Registry, read_registry_yaml
from vlmhb.core.tasks import TaskKindInfo, builtin_task_kinds


@dataclass
class Registries:
    models: Registry[Any]  # backend classes (entry points ``vlmhb.models``)
    model_presets: Registry[dict[str, Any]]
    tasks: Registry[TaskKindInfo]
    datasets: Registry[Any]  # dataset reader classes
    dataset_presets: Registry[dict[str, Any]]
    metrics: Registry[Any]
    reports: Registry[Any]
    stages: Registry[Any]
    envs: Registry[Any]  # EnvManager classes (entry points ``vlmhb.envs``; built-in process)
    executors: Registry[ExecutorFactory]  # entry points ``vlmhb.executors``; built-in local
    storage: Registry[Any]  # DataStore factories by URI scheme (entry points ``vlmhb.storage``)

    def by_kind(self) -> dict[str, Registry[Any]]:
        return {
            "models": self.models,
            "tasks": self.tasks,
            "datasets": self.datasets,
            "metrics": self.metrics,
            "reports": self.reports,
            "stages": self.stages,
            "envs": self.envs,
            "executors": self.executors,
            "storage": self.storage,
        }


def registry_dirs_from_env() -> list[Path]:
    value = os.environ.get("VLMHB_REGISTRY_DIRS", "")
    return [Path(p) for p in value.split(os.pathsep) if p]


def get_registries(extra_dirs: Iterable[Path] = ()) -> Registries:
    """Registries with built-ins, entry points and the YAML folders (cached per folder set)."""
    dirs = tuple(sorted({p.resolve() for p in [*registry_dirs_from_env(), *extra_dirs]}))
    with _BUILD_LOCK:  # lru_cache alone may build twice under concurrent first calls
        return _build(dirs)


_BUILD_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _build(dirs: tuple[Path, ...]) -> Registries:
    tasks: Registry[TaskKindInfo] = Registry("task")
    for info in builtin_task_kinds():
        tasks.register(info.name, info, description=info.description)
    registries = Registries(
        models=Registry("model"),
        model_presets=Registry("model preset", group="vlmhb.model_presets"),
        tasks=tasks,
        datasets=Registry("dataset format", group="vlmhb.datasets"),
        dataset_presets=Registry("dataset preset", group="vlmhb.dataset_presets"),
        metrics=Registry("metric"),
        reports=Registry("report"),
        stages=Registry("stage"),
        envs=Registry("env"),
        executors=Registry("executor"),
        storage=Registry("data store", group="vlmhb.storage"),
    )
    register_builtin_envs(registries.envs)
    register_builtin_executors(registries.executors)
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError(str(folder), "registry folder not found")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            for entry in read_registry_yaml(path):
                _add_yaml_entry(registries, entry, path)
    return registries


def _add_yaml_entry(registries: Registries, entry: dict[str, Any], path: Path) -> None:
    kind, name = entry["kind"], str(entry["name"])
    source = f"registry file {path}"
    body = {k: v for k, v in entry.items() if k != "kind"}
    if kind == "model":
        registries.model_presets.register(name, body, source, entry.get("description", ""))
    elif kind == "dataset":
        registries.dataset_presets.register(name, body, source)
    elif kind == "metric":
        base, options = body.get("base"), body.get("options", {})
        if not base:
            raise ConfigError(f"{path} [{name}]", "a metric entry needs 'base'")
        metrics = registries.metrics

        def variant(base: str = str(base), options: dict[str, Any] = options) -> Any:
            return metrics.get(base).with_options(name=name, **options)

        metrics.register_lazy(name, variant, source, f"{base} with {options}")
    else:
        raise ConfigError(
            f"{path} [{name}]", f"unknown registry kind {kind!r}; expected model, dataset or metric"
        )
