"""Roles of config fields that the loader must treat specially, declared on the field.

A path field carries a ``PathRole`` in its ``Annotated`` metadata (``InputPath``,
``OutputPath``, ``ModelRef``; on a list field the role applies to every item); a field
that launches or loads code (a program, a command line, a module, packages, environment
variables) carries ``OPERATOR``. The loader resolves paths by role and, for configs
submitted through the API, refuses operator fields and paths outside the data roots.
Backends declare all their params the same way (``BackendParams`` subclasses: unknown
params are errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict


class PathRole(StrEnum):
    INPUT = "input"  # read: inside the data roots; relative to the config (CLI) or root
    OUTPUT = "output"  # written: inside the experiment's output folder
    MODEL = "model"  # a path when it exists, else a name the backend knows (a hub id)
    URI = "uri"  # a storage URI (s3://bucket/prefix): never resolved; submitted: VLMHB_DATA_URIS


@dataclass(frozen=True)
class OperatorOnly:
    """Marker: only an operator (CLI user, registry folder) may set this field."""

    why: str


OPERATOR = OperatorOnly("names a program, command line, module, package or environment")

InputPath = Annotated[Path, PathRole.INPUT]
OutputPath = Annotated[Path, PathRole.OUTPUT]


class BackendParams(BaseModel):
    """Base of a backend's ``params`` model (``Backend.Params``): every param is declared
    with its type, default and description (fields carry their roles); an undeclared
    param is an error."""

    model_config = ConfigDict(extra="forbid")


class OpenParams(BackendParams):
    """The params of a backend that declares no ``Params`` model (or of an unknown one):
    nothing can be checked, so every param is passed on as it is."""

    model_config = ConfigDict(extra="allow")


Role = PathRole | OperatorOnly


def field_roles(model: type[BaseModel]) -> dict[str, tuple[Role, ...]]:
    """``{field name: its roles}`` for the fields of ``model`` that declare any (a field
    may be both, e.g. ``registry_dirs``: an input path only an operator sets)."""
    roles: dict[str, tuple[Role, ...]] = {}
    for name, info in model.model_fields.items():
        found = tuple(item for item in info.metadata if isinstance(item, PathRole | OperatorOnly))
        if found:
            roles[name] = found
    return roles


def params_model(backend: Any) -> type[BaseModel]:
    """The params model a backend class declares (``Params``), else ``OpenParams``."""
    model = getattr(backend, "Params", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else OpenParams
