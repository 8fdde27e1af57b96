"""One generic registry for models, tasks, datasets, metrics, reports and stages.

Entries come from three places, in this order (later ones override earlier ones):
built-ins registered in code, installed packages' entry points (group
``vlmhb.<kind>s``) and YAML files in registry folders. Entry points are loaded lazily,
so listing names never imports plugin code (`RegistryEntry.summary`, for `vlmhb list`, does).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from vlmhb.core.errors import ConfigError, UnknownNameError

T = TypeVar("T")


@dataclass
class RegistryEntry(Generic[T]):
    name: str
    source: str
    loader: Callable[[], T]
    description: str = ""
    _value: Any = None
    _loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def summary(self) -> str:
        """What the entry is, in one line: its description, else the first line of the
        plugin's docstring (loading it), or why it cannot be loaded."""
        if self.description:
            return self.description
        try:
            doc = inspect.getdoc(self.load()) or ""
        except Exception as exc:  # a broken plugin is listed, with the reason
            return f"(cannot load: {type(exc).__name__}: {exc})"
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def load(self) -> T:
        """The plugin, loaded once (thread-safe)."""
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._value = self.loader()
                    self._loaded = True
        return self._value


class Registry(Generic[T]):
    """Named plugins of one kind. ``group`` is the entry-point group to read.

    Entry points are read once, under a lock: concurrent first users all wait for the
    complete set (the loaded flag is set only after every entry is registered).
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group or f"vlmhb.{kind}s"
        self._entries: dict[str, RegistryEntry[T]] = {}
        self._entry_points_loaded = False
        self._lock = threading.RLock()

    def register(
        self, name: str, value: T, source: str = "built-in", description: str = ""
    ) -> None:
        with self._lock:
            self._entries[name] = RegistryEntry(name, source, lambda: value, description)

    def register_lazy(
        self, name: str, loader: Callable[[], T], source: str, description: str = ""
    ) -> None:
        with self._lock:
            self._entries[name] = RegistryEntry(name, source, loader, description)

    def load_entry_points(self) -> None:
        """Register the entry points of ``group`` (once; thread-safe)."""
        if self._entry_points_loaded:
            return
        with self._lock:
            if self._entry_points_loaded:
                return
            for ep in entry_points(group=self.group):
                if ep.name in self._entries and self._entries[ep.name].source != "built-in":
                    continue
                self.register_lazy(
                    ep.name,
                    _ep_loader(ep),
                    f"entry point {ep.value}" + (f" ({ep.dist.name})" if ep.dist else ""),
                )
            self._entry_points_loaded = True

    def _all(self) -> dict[str, RegistryEntry[T]]:
        self.load_entry_points()
        return self._entries

    def names(self) -> list[str]:
        return sorted(self._all())

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __iter__(self) -> Iterator[RegistryEntry[T]]:
        return iter(sorted(self._all().values(), key=lambda e: e.name))

    def entry(self, name: str) -> RegistryEntry[T]:
        entries = self._all()
        if name not in entries:
            raise UnknownNameError(self.kind, name, list(entries))
        return entries[name]

    def get(self, name: str) -> T:
        """The plugin called ``name``; an ``UnknownNameError`` with suggestions if absent."""
        return self.entry(name).load()

    def check(self, name: str) -> None:
        """Raise ``UnknownNameError`` unless ``name`` is registered (loads nothing)."""
        self.entry(name)


def _ep_loader(ep: EntryPoint) -> Callable[[], Any]:
    return ep.load


def read_registry_yaml(path: Path) -> list[dict[str, Any]]:
    """Entries of a registry YAML file: a mapping with a ``kind`` and ``name``, or a list."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "kind" not in item or "name" not in item:
            raise ConfigError(f"{path}[{index}]", "registry entry needs 'kind' and 'name'")
    return items
