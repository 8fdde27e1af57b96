"""The model catalog: models managed through the management API that a submitted config
picks by name, like a registry preset (``models: [qwen2-vl-2b]`` or
``{preset: qwen2-vl-2b, concurrency: 8}``).

A catalog entry is data a user of the API wrote, not operator code: it is checked as a
submitted model entry is (``validate_catalog_entry``: no program, command line, module,
package or environment variable), except that it may pick an environment by ``kind`` and
``image`` (the image within the operator's allow-list). The backend writes a snapshot of
the catalog beside each stored config (``MODEL_CATALOG_FILE``), so the config loads the
same wherever it is loaded (the host orchestrator too) and records what it used. A
registry preset of the same name wins (the backend refuses such a name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from vlmhb.core.config.locate import line_of
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.config.roles import operator_fields
from vlmhb.core.contracts import ModelSpec
from vlmhb.core.errors import ConfigError
from vlmhb.core.fieldtypes import PathRole, field_roles

MODEL_CATALOG_FILE = "model-catalog.json"
CATALOG_ENV_KEYS = frozenset({"kind", "image"})
CatalogEntries = Mapping[str, Mapping[str, Any]]


def read_catalog(folder: Path) -> dict[str, dict[str, Any]]:
    """The catalog snapshot stored in ``folder`` (empty when there is none)."""
    path = folder / MODEL_CATALOG_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), f"unreadable model catalog: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(str(path), "the model catalog must map names to model entries")
    return data


def write_catalog(folder: Path, entries: CatalogEntries) -> Path:
    """Write the snapshot of ``entries`` (name → model entry without ``name``)."""
    path = folder / MODEL_CATALOG_FILE
    payload = {name: dict(entry) for name, entry in sorted(entries.items())}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def validate_catalog_entry(
    name: str, entry: Mapping[str, Any], policy: SubmissionPolicy | None = None
) -> ModelSpec:
    """``entry`` as the model ``name`` (``ValueError`` naming the field when it is not a
    valid model entry, names a backend no registry has, sets an operator-only field, or
    picks more of an environment than its ``kind`` and ``image``; the image is checked
    against the allow-list). With ``policy`` (the server's submission limits) its paths
    must lie inside the data roots and its API key be one the server allows for its URL."""
    from vlmhb.core.envs.policy import ContainerPolicyError, container_policy
    from vlmhb.core.fieldtypes import params_model
    from vlmhb.core.registries import get_registries

    body = {key: value for key, value in entry.items() if key != "name"}
    try:
        spec = ModelSpec.model_validate({"name": name, **body})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(entry)"
        raise ValueError(f"field '{field}': {first['msg']}") from None
    models = get_registries(list(policy.registry_dirs) if policy else []).models
    if spec.backend not in models:
        known = ", ".join(sorted(models.names()))
        raise ValueError(f"field 'backend': no backend {spec.backend!r} (known: {known})")
    params = params_model(models.get(spec.backend))
    for loc in operator_fields(_without_env(body), ModelSpec, lambda _loc: params):
        field = ".".join(str(p) for p in loc)
        raise ValueError(
            f"field '{field}': only the server's operator may set this (it names a program, "
            "command line, module, packages or environment variable)"
        )
    env = body.get("env") or {}
    extra = sorted(set(env) - CATALOG_ENV_KEYS) if isinstance(env, dict) else ["env"]
    if extra:
        raise ValueError(
            f"field 'env.{extra[0]}': a catalog model picks only env.kind and env.image"
        )
    if spec.env.image:
        try:
            container_policy().check_image(spec.env.image)
        except ContainerPolicyError as exc:
            raise ValueError(f"field 'env.image': {exc}") from None
    if policy is not None:
        _check_policy(spec, params, policy)
    return spec


def _check_policy(spec: ModelSpec, params: type[BaseModel], policy: SubmissionPolicy) -> None:
    """The entry's key and paths against the server's limits, as a submitted model's are."""
    if spec.api_key_env and not policy.key_allowed(spec.api_key_env, spec.base_url):
        raise ValueError(
            f"field 'api_key_env': the server does not allow the key {spec.api_key_env!r} "
            f"for base_url {spec.base_url!r} (VLMHB_MODEL_KEYS)"
        )
    paths: list[tuple[str, Any]] = [("model_path", spec.model_path)]
    for field, roles in field_roles(params).items():
        if PathRole.INPUT in roles and spec.params.get(field):
            value = spec.params[field]
            paths += [
                (f"params.{field}", item)
                for item in (value if isinstance(value, list) else [value])
            ]
    for field, value in paths:
        if not value:
            continue
        given = Path(str(value))
        path = given if given.is_absolute() else policy.base / given
        hub_name = field == "model_path" and not given.is_absolute() and not path.exists()
        if ".." in given.parts or (not hub_name and not policy.inside_data(path)):
            raise ValueError(f"field '{field}': {str(value)!r} is outside the server's data roots")


def expand_catalog(
    data: dict[str, Any], path: Path, text: str, catalog: CatalogEntries, skip: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(expanded, checked)``: ``data`` with catalog names in ``models`` replaced by their
    entries (names in ``skip``, the registry's presets, are left for them). ``checked`` is
    the same without the catalog's own ``env`` (validated when the entry was written): what
    the operator-field check must see as written by the user."""
    items = data.get("models")
    if not isinstance(items, list) or not catalog:
        return data, data
    expanded, checked = [], []
    for index, item in enumerate(items):
        name = (
            item
            if isinstance(item, str)
            else (item.get("preset") if isinstance(item, dict) else None)
        )
        if not isinstance(name, str) or name in skip or name not in catalog:
            expanded.append(item)
            checked.append(item)
            continue
        base = {"name": name, **catalog[name]}
        override = (
            {k: v for k, v in item.items() if k != "preset"} if isinstance(item, dict) else {}
        )
        if "name" in catalog[name]:
            line = line_of(text, ["models", index])
            raise ConfigError(
                f"{path}:{line}", f"field 'models.{index}': catalog entry {name!r} is malformed"
            )
        expanded.append({**base, **override})
        checked.append({**_without_env(base), **override})
    return {**data, "models": expanded}, {**data, "models": checked}


def _without_env(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "env"}
