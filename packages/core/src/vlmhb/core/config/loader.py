"""Load an experiment from YAML, JSON or the legacy CSV pair into an ``ExperimentSpec``.

Every problem raises ``ConfigError`` naming the file, the line (or CSV row) and the field.
Paths are resolved by the role their field declares (``vlmhb.core.fieldtypes``): inputs
against the config's folder (a submitted config: against the first data root), outputs
inside the experiment's output folder. A config submitted through the API is loaded
with a ``SubmissionPolicy`` (``vlmhb.core.config.policy``): it is data, never code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from vlmhb.core.config.locate import line_of
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.config.roles import Loc, operator_fields, resolve_roles
from vlmhb.core.contracts import ExperimentSpec, LoadSpec
from vlmhb.core.errors import ConfigError, did_you_mean
from vlmhb.core.fieldtypes import OpenParams, PathRole, field_roles, params_model

LEGACY_USER_CONFIG = "user_config.csv"
# Maps a location in the spec (``["tasks", 0, "metrics"]``) to "file:line" for messages.
Locator = Callable[[Sequence[str | int]], str]
MAX_CONFIG_BYTES = 1024 * 1024
# Nodes of the config once YAML aliases are expanded (an alias bomb is refused).
MAX_CONFIG_NODES = 100_000


def load_experiment(
    path: Path | str, *, check: bool = True, policy: SubmissionPolicy | None = None
) -> ExperimentSpec:
    """Read ``path`` (a .yaml/.yml/.json file, a ``user_config.csv``, or a folder holding
    ``user_config*.csv`` + ``vlm_base.csv``), validate it and resolve its paths. With
    ``check`` also verify names against the registries and that referenced files exist.
    With ``policy`` (a submitted config) refuse what only an operator may set."""
    path = Path(path)
    if path.is_dir():
        from vlmhb.core.config.legacy_v01 import find_user_config

        path = find_user_config(path) or path
    if not path.exists():
        raise ConfigError(str(path), "config file not found")
    if path.suffix.lower() == ".csv":
        from vlmhb.core.config.legacy_csv import load_legacy_csv

        spec, locate, raw = load_legacy_csv(path, policy)
    else:
        spec, locate, raw = _load_structured(path, policy)
    if policy is None:
        spec.registry_dirs = [
            p if p.is_absolute() else (path.parent / p).resolve()
            for p in (q.expanduser() for q in spec.registry_dirs)
        ]
    else:
        _refuse_operator_fields(raw, spec, locate)
        spec.registry_dirs = list(policy.registry_dirs)
    _fill_task_defaults(spec)
    _check_params(spec, locate)
    _resolve_paths(spec, path.parent, locate, policy)
    if check:
        from vlmhb.core.config.checks import check_experiment
        from vlmhb.core.config.containers import check_containers, config_policy

        check_experiment(spec, locate)
        _check_param_inputs(spec, locate)
        check_containers(spec, locate, config_policy(policy))
    return spec


def read_config_text(path: Path) -> str:
    """The text of a config file: at most ``MAX_CONFIG_BYTES``, UTF-8."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            str(path), f"the config is {size} bytes; at most {MAX_CONFIG_BYTES} are read"
        )
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _load_structured(
    path: Path, policy: SubmissionPolicy | None
) -> tuple[ExperimentSpec, Locator, dict[str, Any]]:
    text = read_config_text(path)
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1", "the experiment must be a mapping with name, models, datasets and tasks"
        )
    check_expansion(data, str(path))
    from vlmhb.core.config.presets import expand_presets

    registry_dirs = None if policy is None else list(policy.registry_dirs)
    checked = data
    if policy is not None:
        data, checked = _expand_model_catalog(data, path, text, list(policy.registry_dirs))
    expanded = expand_presets(data, path, text, registry_dirs)
    try:
        spec = ExperimentSpec.model_validate(expanded)
    except ValidationError as exc:
        raise _located(exc, path, text) from None

    def locate(loc: Sequence[str | int]) -> str:
        line = line_of(text, loc)
        return f"{path}:{line}" if line else str(path)

    return spec, locate, checked


def _expand_model_catalog(
    data: dict[str, Any], path: Path, text: str, registry_dirs: list[Path]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A submitted config with its catalog models (``vlmhb.core.config.catalog``)
    expanded from the snapshot stored beside it, and what the operator check reads."""
    from vlmhb.core.config.catalog import expand_catalog, read_catalog
    from vlmhb.core.registries import get_registries

    catalog = read_catalog(path.parent)
    if not catalog:
        return data, data
    presets = set(get_registries(registry_dirs).model_presets.names())
    return expand_catalog(data, path, text, catalog, presets)


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(where, f"invalid YAML: {problem}") from None


def check_expansion(data: Any, where: str, limit: int = MAX_CONFIG_NODES) -> None:
    """Refuse a document whose YAML aliases expand to more than ``limit`` nodes, or that
    refers to itself (the expanded size is counted without expanding anything)."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise ConfigError(where, "the document refers to itself (a recursive YAML alias)")
        in_progress.add(key)
        items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
        total = 1
        for item in items:
            total += size(item)
            if total > limit:
                raise ConfigError(
                    where,
                    f"the document expands to more than {limit} values "
                    "(YAML aliases); write it out or make it smaller",
                )
        in_progress.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError:
        raise ConfigError(where, "the document is nested too deeply") from None


def _located(exc: ValidationError, path: Path, text: str) -> ConfigError:
    first = exc.errors()[0]
    loc = [p for p in first["loc"] if isinstance(p, str | int)]
    line = line_of(text, loc)
    field = ".".join(str(p) for p in loc) or "(root)"
    where = f"{path}:{line}" if line else str(path)
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return ConfigError(where, f"field '{field}': {first['msg']}{more}")


def _field(loc: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in loc)


def _params_at(spec: ExperimentSpec) -> Callable[[Sequence[str | int]], type[BaseModel]]:
    """The params model of the backend of the model entry at ``["models", i]``."""
    from vlmhb.core.registries import get_registries

    registries = get_registries(spec.registry_dirs)

    def params_at(loc: Sequence[str | int]) -> type[BaseModel]:
        if (
            len(loc) >= 2
            and loc[0] == "models"
            and isinstance(loc[1], int)
            and loc[1] < len(spec.models)
        ):
            backend = spec.models[loc[1]].backend
            if backend in registries.models:
                return params_model(registries.models.get(backend))
        return OpenParams

    return params_at


def _fill_task_defaults(spec: ExperimentSpec) -> None:
    from vlmhb.core.registries import get_registries
    from vlmhb.core.tasks import fill_task_defaults

    fill_task_defaults(spec.tasks, get_registries(spec.registry_dirs).tasks)


def _refuse_operator_fields(raw: dict[str, Any], spec: ExperimentSpec, locate: Locator) -> None:
    """A submitted config may pick operator settings only by name (registry presets)."""
    for loc in operator_fields(raw, ExperimentSpec, _params_at(spec)):
        raise ConfigError(
            locate(loc),
            f"field '{_field(loc)}': only the server's operator "
            "may set this (it names a program, command line, module, packages, "
            "environment or registry folder); pick a model preset the "
            "operator defined instead (see docs/security.md)",
        )


def _check_params(spec: ExperimentSpec, locate: Locator) -> None:
    """Each model's ``params`` against its backend's declared params model (types, ranges,
    unknown names with did-you-mean); load settings belong in ``load``."""
    params_at = _params_at(spec)
    for index, model in enumerate(spec.models):
        params = params_at(["models", index])
        moved = _load_keys(model.params)
        if moved:
            loc: Loc = ["models", index, "params", moved[0]]
            raise ConfigError(
                locate(loc),
                f"field '{_field(loc)}': {moved[0]!r} is a load "
                f"setting, not a backend param: write it as "
                f"'models.{index}.load.{moved[0]}'",
            )
        try:
            params.model_validate(model.params)
        except ValidationError as exc:
            raise _params_error(
                exc, ["models", index, "params"], model.backend, params, locate
            ) from None
    for index, task in enumerate(spec.tasks):
        if moved := _load_keys(task.options):
            loc = ["tasks", index, "options", moved[0]]
            raise ConfigError(
                locate(loc),
                f"field '{_field(loc)}': {moved[0]!r} is a load "
                "setting of the model now: write it as "
                f"'models.<i>.load.{moved[0]}' for each model",
            )


def _load_keys(values: dict[str, Any]) -> list[str]:
    return [key for key in values if key in LoadSpec.model_fields]


def _params_error(
    exc: ValidationError, at: Loc, backend: str, params: type[BaseModel], locate: Locator
) -> ConfigError:
    first = exc.errors()[0]
    loc: Loc = [*at, *[p for p in first["loc"] if isinstance(p, str | int)]]
    message = first["msg"]
    if first["type"] == "extra_forbidden" and len(loc) == len(at) + 1:
        known = list(params.model_fields)
        hint = did_you_mean(str(loc[-1]), known)
        message = (
            f"unknown param {loc[-1]!r} of backend {backend!r}."
            + (f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else "")
            + f" Its params: {', '.join(known) or 'none'}"
        )
    elif first["type"] != "value_error" and not isinstance(first.get("input"), dict | list):
        message += f", got {first['input']!r}"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return ConfigError(locate(loc), f"field '{_field(loc)}': {message}{more}")


def _check_param_inputs(spec: ExperimentSpec, locate: Locator) -> None:
    """Every backend input path (``answers_file``...) names an existing file or folder."""
    params_at = _params_at(spec)
    for index, model in enumerate(spec.models):
        for name, roles in field_roles(params_at(["models", index])).items():
            value = model.params.get(name)
            if PathRole.INPUT not in roles or not value:
                continue
            for item_index, item in enumerate(value if isinstance(value, list) else [value]):
                if not Path(item).exists():
                    loc: Loc = ["models", index, "params", name]
                    if isinstance(value, list):
                        loc.append(item_index)
                    raise ConfigError(locate(loc), f"field '{_field(loc)}': {item} does not exist")


def _resolve_paths(
    spec: ExperimentSpec, config_dir: Path, locate: Locator, policy: SubmissionPolicy | None
) -> None:
    """Every path field by its role; with ``policy`` each must stay inside its root."""
    base = config_dir if policy is None else policy.base
    if policy is None:
        spec.output_dir = spec.output_dir.expanduser().resolve()  # relative to the working dir
    else:
        spec.output_dir = policy.output_root.resolve()
    outputs = spec.output_dir / spec.name

    def refuse(loc: Loc, value: Any, why: str) -> ConfigError:
        return ConfigError(locate(loc), f"field '{_field(loc)}': {str(value)!r} {why}")

    def resolve(role: PathRole, value: Any, loc: Loc) -> Any:
        if role is PathRole.URI:  # a storage URI: never a path on this machine
            if policy is not None and not policy.uri_allowed(str(value)):
                raise refuse(
                    loc,
                    value,
                    "is not under a storage URI the server allows "
                    "(its operator lists them in VLMHB_DATA_URIS)",
                )
            return value
        given = Path(value).expanduser() if policy is None else Path(value)
        if policy is not None and ".." in PurePath(value).parts:
            raise refuse(loc, value, "may not contain '..'")
        if role is PathRole.OUTPUT:
            path = given if given.is_absolute() else (outputs / given)
            if policy is not None and not path.resolve().is_relative_to(outputs):
                raise refuse(loc, value, "must lie inside the experiment's output folder")
            return path.resolve()
        path = given if given.is_absolute() else (base / given)
        if role is PathRole.MODEL and not given.is_absolute() and not path.exists():
            return value  # a name the backend knows (a hub id), not a path
        if policy is not None and not policy.inside_data(path):
            raise refuse(loc, value, "is outside the server's data roots")
        return path.resolve()

    resolve_roles(spec, resolve, _params_at(spec), skip=frozenset({"output_dir", "registry_dirs"}))
    if policy is not None:
        _check_keys(spec, locate, policy)


def _check_keys(spec: ExperimentSpec, locate: Locator, policy: SubmissionPolicy) -> None:
    for index, model in enumerate(spec.models):
        if model.api_key_env and not policy.key_allowed(model.api_key_env, model.base_url):
            loc: Loc = ["models", index, "api_key_env"]
            raise ConfigError(
                locate(loc),
                f"field '{_field(loc)}': the server does not allow "
                f"the key {model.api_key_env!r} for base_url {model.base_url!r} "
                "(its operator lists allowed keys and URLs in VLMHB_MODEL_KEYS)",
            )
