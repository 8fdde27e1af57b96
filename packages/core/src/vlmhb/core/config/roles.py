"""Walk a config by the roles its fields declare (``vlmhb.core.fieldtypes``).

``operator_fields`` finds, in the data a user wrote (before presets are expanded), the
operator-only fields they set; ``resolve_roles`` calls a resolver for every path field of
a validated spec, backend params included (through each backend's ``Params`` model).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from vlmhb.core.fieldtypes import OperatorOnly, PathRole, field_roles

Loc = list[str | int]
# The params model of the model entry at a location (``["models", 0]``).
ParamsModelAt = Callable[[Sequence[str | int]], type[BaseModel]]
# (role, value, location) → the resolved value (or raises ConfigError).
Resolver = Callable[[PathRole, Any, Loc], Any]
PARAMS_FIELD = "params"


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X``, ``list[X]``, ``X | None`` (else None)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (list, tuple, Union, types.UnionType):
        for arg in get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


def _roles_of(model: type[BaseModel]) -> dict[str, list[PathRole | OperatorOnly]]:
    roles: dict[str, list[PathRole | OperatorOnly]] = {}
    for name, info in model.model_fields.items():
        roles[name] = [m for m in info.metadata if isinstance(m, PathRole | OperatorOnly)]
    return roles


def operator_fields(
    data: Any, model: type[BaseModel], params_at: ParamsModelAt, loc: Loc | None = None
) -> Iterator[Loc]:
    """Locations in raw ``data`` (shaped like ``model``) of operator-only fields it sets."""
    loc = loc or []
    if not isinstance(data, dict):
        return
    roles = _roles_of(model)
    for key, value in data.items():
        info = model.model_fields.get(str(key))
        if info is None:
            continue
        here: Loc = [*loc, str(key)]
        if any(isinstance(r, OperatorOnly) for r in roles[str(key)]):
            yield here
            continue
        if key == PARAMS_FIELD and isinstance(value, dict) and model.model_fields.get("backend"):
            operator_params = {
                name
                for name, role in field_roles(params_at(loc)).items()
                if isinstance(role, OperatorOnly)
            }
            yield from ([*here, name] for name in value if name in operator_params)
            continue
        sub = _submodel(info.annotation)
        if sub is None:
            continue
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            yield from operator_fields(
                item, sub, params_at, here if index is None else [*here, index]
            )


def _apply(role: PathRole, value: Any, loc: Loc, resolver: Resolver) -> Any:
    """The resolved value (each item of a list), of the same type as given (str or Path)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_apply(role, item, [*loc, i], resolver) for i, item in enumerate(value)]
    resolved = resolver(role, value, loc)
    return str(resolved) if isinstance(value, str) else resolved


def resolve_roles(
    model: BaseModel,
    resolver: Resolver,
    params_at: ParamsModelAt,
    loc: Loc | None = None,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Replace every path field of ``model`` (recursively) by ``resolver``'s answer."""
    loc = loc or []
    roles = _roles_of(type(model))
    for name in type(model).model_fields:
        if name in skip:
            continue
        value = getattr(model, name)
        here: Loc = [*loc, name]
        path_roles = [r for r in roles[name] if isinstance(r, PathRole)]
        if path_roles:
            setattr(model, name, _apply(path_roles[0], value, here, resolver))
        elif name == PARAMS_FIELD and isinstance(value, dict) and "backend" in roles:
            params_roles = field_roles(params_at(loc))
            for key, item in list(value.items()):
                role = params_roles.get(key)
                if isinstance(role, PathRole) and isinstance(item, str | list) and item:
                    value[key] = _apply(role, item, [*here, key], resolver)
        elif isinstance(value, BaseModel):
            resolve_roles(value, resolver, params_at, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    resolve_roles(item, resolver, params_at, [*here, index])
