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

from vlmhb.core.fieldtypes import OperatorOnly, PathRole, Role, field_roles

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


def _operator(roles: tuple[Role, ...]) -> bool:
    return any(isinstance(role, OperatorOnly) for role in roles)


def _path_role(roles: tuple[Role, ...]) -> PathRole | None:
    return next((role for role in roles if isinstance(role, PathRole)), None)


def operator_fields(
    data: Any, model: type[BaseModel], params_at: ParamsModelAt, loc: Loc | None = None
) -> Iterator[Loc]:
    """Locations in raw ``data`` (shaped like ``model``) of operator-only fields it sets."""
    loc = loc or []
    if not isinstance(data, dict):
        return
    roles = field_roles(model)
    for key, value in data.items():
        info = model.model_fields.get(str(key))
        if info is None:
            continue
        here: Loc = [*loc, str(key)]
        if _operator(roles.get(str(key), ())):
            yield here
            continue
        if key == PARAMS_FIELD and isinstance(value, dict) and model.model_fields.get("backend"):
            operator_params = {
                name for name, found in field_roles(params_at(loc)).items() if _operator(found)
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
    fields = type(model).model_fields
    roles = field_roles(type(model))
    for name in fields:
        if name in skip:
            continue
        value = getattr(model, name)
        here: Loc = [*loc, name]
        path_role = _path_role(roles.get(name, ()))
        if path_role is not None:
            setattr(model, name, _apply(path_role, value, here, resolver))
        elif name == PARAMS_FIELD and isinstance(value, dict) and "backend" in fields:
            params_roles = field_roles(params_at(loc))
            for key, item in list(value.items()):
                role = _path_role(params_roles.get(key, ()))
                if role is not None and isinstance(item, str | list) and item:
                    value[key] = _apply(role, item, [*here, key], resolver)
        elif isinstance(value, BaseModel):
            resolve_roles(value, resolver, params_at, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    resolve_roles(item, resolver, params_at, [*here, index])
