"""Secrets are typed, masked at any depth in every dump, and revealed only on purpose."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from vlmhb.core.contracts import ModelSpec, stable_hash
from vlmhb.core.secrets import (
    MASK,
    is_secret_name,
    private_dir,
    reveal,
    revealed_json,
    write_private,
)


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "API_KEY",
        "hf_token",
        "HF_TOKEN",
        "token",
        "--hf-token",
        "--api-key",
        "password",
        "db-password",
        "client_secret",
        "aws_secret_access_key",
        "authorization",
        "credentials",
        "apikey",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "max_tokens",
        "tokens_per_min",
        "image_tokens",
        "keyboard",
        "monkey",
        "answers_file",
        "secretary_notes",
        "--max-model-len",
        "tokenizer",
        "author",
    ],
)
def test_names_that_are_not_secrets(name: str) -> None:
    assert not is_secret_name(name)


def test_a_model_spec_seals_secrets_at_any_depth() -> None:
    spec = ModelSpec(
        name="m",
        backend="vllm",
        params={
            "api_key": "k1",
            "max_tokens": 10,
            "token_burst": 5.0,
            "engine_args": {"hf_token": "k2", "max_model_len": 4096},
            "env": {"HF_TOKEN": "k3", "CUDA_HOME": "/usr/local/cuda"},
            "argv": ["--api-key", "k4", "--hf-token=k5", "--port", "8000"],
            "deep": [{"auth": {"password": "k6"}}],
        },
    )
    params = spec.params
    assert isinstance(params["api_key"], SecretStr)
    assert params["max_tokens"] == 10 and params["token_burst"] == 5.0
    dumped = spec.model_dump_json()
    for secret in ("k1", "k2", "k3", "k4", "k5", "k6"):
        assert f'"{secret}"' not in dumped and f"={secret}" not in dumped
    data = json.loads(dumped)["params"]
    assert data["env"] == {"HF_TOKEN": MASK, "CUDA_HOME": "/usr/local/cuda"}
    assert data["argv"] == ["--api-key", MASK, MASK, "--port", "8000"]
    assert data["engine_args"]["max_model_len"] == 4096
    again = ModelSpec.model_validate_json(revealed_json(spec))  # the private hand-off
    assert reveal(again.params["deep"][0]["auth"]["password"]) == "k6"
    assert again.params["argv"][1].get_secret_value() == "k4"
    assert again.model_dump_json() == dumped


def test_secrets_do_not_change_ids() -> None:
    """The key is not part of what a model answers: the same run id with another key."""
    one = ModelSpec(name="m", backend="openai", params={"api_key": "a"})
    two = ModelSpec(name="m", backend="openai", params={"api_key": "b"})
    assert stable_hash(one.answer_fingerprint()) == stable_hash(two.answer_fingerprint())


def test_private_files(tmp_path: Path) -> None:
    with private_dir("vlmhb-test-") as folder:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        path = write_private(folder / "x.json", "{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not folder.exists()
