"""Named model and dataset presets from registry YAML folders, usable by name in configs.

In an experiment, ``models: [tesseract-rus]`` refers to a ``kind: model`` entry of a
registry file; a mapping ``{preset: tesseract-rus, concurrency: 8}`` overrides fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmhb.core.config.locate import line_of
from vlmhb.core.errors import ConfigError, UnknownNameError


def expand_presets(
    data: dict[str, Any], path: Path, text: str, registry_dirs: list[Path] | None = None
) -> dict[str, Any]:
    """Replace preset references in ``models`` and ``datasets`` by their definitions,
    from ``registry_dirs`` (default: the config's own ``registry_dirs``)."""
    from vlmhb.core.registries import get_registries

    if registry_dirs is None:
        registry_dirs = [_registry_dir(path, p) for p in data.get("registry_dirs") or []]
    registries = get_registries(registry_dirs)
    out = dict(data)
    for section, registry in (
        ("models", registries.model_presets),
        ("datasets", registries.dataset_presets),
    ):
        items = data.get(section)
        if not isinstance(items, list):
            continue
        expanded = []
        for index, item in enumerate(items):
            name = (
                item
                if isinstance(item, str)
                else (item.get("preset") if isinstance(item, dict) else None)
            )
            if name is None:
                expanded.append(item)
                continue
            try:
                base = dict(registry.get(name))
            except UnknownNameError as exc:
                line = line_of(text, [section, index])
                raise ConfigError(f"{path}:{line}", f"field '{section}.{index}': {exc}") from None
            if isinstance(item, dict):
                base.update({k: v for k, v in item.items() if k != "preset"})
            expanded.append(base)
        out[section] = expanded
    return out


def _registry_dir(config_path: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else config_path.parent / p
