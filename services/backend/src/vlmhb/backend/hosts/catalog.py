"""The model catalog's rows as the model entries a config picking them gets
(``vlmhb.core.config.catalog``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import CatalogModel


def catalog_entries(db: Database) -> dict[str, dict[str, Any]]:
    """Every catalog model as the model entry a config picking it gets."""
    with db.session() as session:
        return {m.name: entry_of(m) for m in session.scalars(select(CatalogModel))}


def entry_of(model: CatalogModel) -> dict[str, Any]:
    entry: dict[str, Any] = {"backend": model.backend, **model.spec}
    weights = model.weights or {}
    if "path" in weights:
        entry.setdefault("model_path", weights["path"])
    if "hf_id" in weights:
        entry.setdefault("model", weights["hf_id"])
    return entry
