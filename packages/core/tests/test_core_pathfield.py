"""``PathField`` against pydantic's own ``Path``: the same values, refusals, JSON and
JSON schema on generated inputs (Python and JSON validation)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from vlmhb.core.pathfield import PathField


class Ours(BaseModel):
    path: PathField | None = None


class Theirs(BaseModel):
    path: Path | None = None


def generated(count: int) -> list[object]:
    rng = random.Random(7)
    parts = ["images", "документы", "a b", "..", ".", "x.png", "Ünïcode", "", "//", "~"]
    values: list[object] = [None, 3, 2.5, True, [], {}, Path("/abs/p.jpg")]
    for _ in range(count):
        text = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
        values.append(("/" if rng.random() < 0.5 else "") + text)
    return values


def outcome(model: type[BaseModel], value: object, as_json: bool) -> object:
    try:
        if as_json:
            made = model.model_validate_json(json.dumps({"path": value}, default=str))
        else:
            made = model.model_validate({"path": value})
    except ValidationError:
        return "refused"
    return (made.model_dump()["path"], made.model_dump_json())


@pytest.mark.parametrize("as_json", [False, True])
def test_the_same_values_refusals_and_json_as_pydantic_path(as_json: bool) -> None:
    for value in generated(300):
        assert outcome(Ours, value, as_json) == outcome(Theirs, value, as_json), value


def test_the_same_json_schema() -> None:
    assert Ours.model_json_schema()["properties"] == Theirs.model_json_schema()["properties"]
