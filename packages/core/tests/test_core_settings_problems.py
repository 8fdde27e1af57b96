"""A bad setting is reported on one line naming each field and why."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from vlmhb.core.errors import settings_problems
from vlmhb.core.settings import Settings


class Nested(BaseModel):
    port: int = Field(ge=1)


class Outer(BaseModel):
    nested: Nested
    name: str


def test_each_bad_field_is_named_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as bad:
        Outer.model_validate({"nested": {"port": 0}})
    assert settings_problems(bad.value) == (
        "nested.port: Input should be greater than or equal to 1; name: Field required"
    )
    monkeypatch.setenv("VLMHB_INFRA_RETRIES", "-1")
    with pytest.raises(ValidationError) as env:
        Settings()
    assert settings_problems(env.value).startswith("infra_retries: Input should be greater")
