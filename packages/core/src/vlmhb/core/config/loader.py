"""Load an experiment from YAML, JSON or the legacy CSV pair into an ``ExperimentSpec``.

Every problem raises ``ConfigError`` naming the file, the line (or CSV row) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vlmhb.core.config.locate import line_of
from vlmhb.core.contracts import ExperimentSpec
from vlmhb.core.errors import ConfigError

LEGACY_USER_CONFIG = "user_config.csv"
# Maps a location in the spec (``["tasks", 0, "metrics"]``) to "file:line" for messages.
Locator = Callable[[Sequence[str | int]], str]
# Model params whose names end like this are paths, resolved against the config's folder.
PATH_PARAM_SUFFIXES = ("_file", "_path", "_dir")


def load_experiment(path: Path | str, *, check: bool = True) -> ExperimentSpec:
    """Read ``path`` (a .yaml/.yml/.json file, a ``user_config.csv``, or a folder holding
    ``user_config.csv`` + ``vlm_base.csv``), validate it and resolve relative paths against
    the config file's folder (``output_dir``: against the working directory). With
    ``check`` also verify names against the registries and that referenced files exist."""
    path = Path(path)
    if path.is_dir() and (path / LEGACY_USER_CONFIG).exists():
        path = path / LEGACY_USER_CONFIG
    if not path.exists():
        raise ConfigError(str(path), "config file not found")
    if path.suffix.lower() == ".csv":
        from vlmhb.core.config.legacy_csv import load_legacy_csv

        spec, locate = load_legacy_csv(path)
    else:
        spec, locate = _load_structured(path)
    spec = _resolve_paths(spec, path.parent)
    if check:
        from vlmhb.core.config.checks import check_experiment

        check_experiment(spec, locate)
    return spec


def _load_structured(path: Path) -> tuple[ExperimentSpec, Locator]:
    text = path.read_text(encoding="utf-8-sig")
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1", "the experiment must be a mapping with name, models, "
                          "datasets and tasks")
    from vlmhb.core.config.presets import expand_presets

    data = expand_presets(data, path, text)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise _located(exc, path, text) from None

    def locate(loc: Sequence[str | int]) -> str:
        line = line_of(text, loc)
        return f"{path}:{line}" if line else str(path)

    return spec, locate


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}") \
                from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(where, f"invalid YAML: {problem}") from None


def _located(exc: ValidationError, path: Path, text: str) -> ConfigError:
    first = exc.errors()[0]
    loc = [p for p in first["loc"] if isinstance(p, str | int)]
    line = line_of(text, loc)
    field = ".".join(str(p) for p in loc) or "(root)"
    where = f"{path}:{line}" if line else str(path)
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return ConfigError(where, f"field '{field}': {first['msg']}{more}")


def _resolve_paths(spec: ExperimentSpec, base: Path) -> ExperimentSpec:
    def resolve(p: Path | str) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    for dataset in spec.datasets:
        dataset.path = resolve(dataset.path)
    for task in spec.tasks:
        task.prompts = [str(resolve(p)) for p in task.prompts]
    spec.output_dir = spec.output_dir.expanduser().resolve()  # relative to the working dir
    spec.registry_dirs = [resolve(p) for p in spec.registry_dirs]
    for model in spec.models:
        if model.model_path and (base / model.model_path).exists():
            model.model_path = str(resolve(model.model_path))  # else a name the backend knows
        for key, value in model.params.items():
            if key.endswith(PATH_PARAM_SUFFIXES) and isinstance(value, str) and value:
                model.params[key] = str(resolve(value))
    return spec
