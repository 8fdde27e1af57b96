"""Catalog models (``vlmhb.core.config.catalog``): entries written through the management
API, picked by name in a submitted config. Each test tries to smuggle code through an entry
or checks that a name resolves from the snapshot beside the stored config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vlmhb.core.config import load_experiment
from vlmhb.core.config.catalog import (
    MODEL_CATALOG_FILE,
    read_catalog,
    validate_catalog_entry,
    write_catalog,
)
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.errors import ConfigError


@pytest.fixture
def root(vqa_dataset: Path) -> Path:
    return vqa_dataset.parent


@pytest.fixture
def policy(root: Path, tmp_path: Path) -> SubmissionPolicy:
    return SubmissionPolicy(data_roots=(root,), output_root=tmp_path / "runs")


def submitted(root: Path, models: list[Any], catalog: dict[str, Any]) -> Path:
    folder = root / "submission"
    folder.mkdir(exist_ok=True)
    write_catalog(folder, catalog)
    data = {
        "name": "exp",
        "models": models,
        "datasets": [{"name": "mini", "format": "vqa_csv", "path": "mini"}],
        "tasks": [{"name": "t", "dataset": "mini", "metrics": ["cer"]}],
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


ECHO = {"backend": "scripted", "params": {"rule": "echo"}, "concurrency": 2}


def test_a_catalog_name_resolves_with_overrides(root: Path, policy: SubmissionPolicy) -> None:
    path = submitted(
        root,
        ["echo-bot", {"preset": "echo-bot", "name": "echo-7", "concurrency": 7}],
        {"echo-bot": ECHO},
    )
    spec = load_experiment(path, policy=policy)
    assert [(m.name, m.backend, m.concurrency) for m in spec.models] == [
        ("echo-bot", "scripted", 2),
        ("echo-7", "scripted", 7),
    ]
    assert read_catalog(path.parent) == {"echo-bot": ECHO}
    assert (path.parent / MODEL_CATALOG_FILE).is_file()


def test_an_unknown_name_names_its_line(root: Path, policy: SubmissionPolicy) -> None:
    path = submitted(root, ["nope"], {"echo-bot": ECHO})
    with pytest.raises(ConfigError) as caught:
        load_experiment(path, policy=policy)
    assert "models.0" in str(caught.value) and caught.value.location.endswith(":3")


def test_the_catalogs_image_is_allowed_but_not_a_users_env(
    root: Path, policy: SubmissionPolicy
) -> None:
    entry = {**ECHO, "env": {"kind": "docker", "image": "vlmhb/base-cpu:latest"}}
    spec = load_experiment(submitted(root, ["boxed"], {"boxed": entry}), policy=policy)
    assert (spec.models[0].env.kind, spec.models[0].env.image) == (
        "docker",
        "vlmhb/base-cpu:latest",
    )
    # the submitter cannot add an env of their own on top of the catalog's
    path = submitted(root, [{"preset": "boxed", "env": {"packages": ["evil"]}}], {"boxed": entry})
    with pytest.raises(ConfigError, match=re.escape("field 'models.0.env'")):
        load_experiment(path, policy=policy)


def test_a_tampered_snapshot_is_still_checked(root: Path, policy: SubmissionPolicy) -> None:
    """An entry that reached the snapshot with an operator field (never through the API)
    is refused at load like a user's own field."""
    evil = {"backend": "vllm", "model": "x", "params": {"command": ["sh", "-c", "id"]}}
    with pytest.raises(ConfigError, match=re.escape("models.0.params.command")):
        load_experiment(submitted(root, ["evil"], {"evil": evil}), policy=policy)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"backend": "vllm", "model": "x", "params": {"command": ["sh"]}}, "params.command"),
        ({"backend": "tesseract", "params": {"tesseract_cmd": "/bin/sh"}}, "params.tesseract_cmd"),
        ({**ECHO, "env": {"kind": "process", "packages": ["evil"]}}, "env"),
        ({**ECHO, "env": {"kind": "docker", "image": "evil.example/x:1"}}, "env.image"),
        ({**ECHO, "concurrency": 0}, "concurrency"),
        ({"params": {}}, "backend"),
    ],
)
def test_validate_refuses_code_and_bad_fields(entry: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_catalog_entry("m", entry)
    assert f"field '{field}" in str(caught.value), caught.value


def test_validate_accepts_a_plain_entry() -> None:
    spec = validate_catalog_entry(
        "m", {**ECHO, "env": {"kind": "docker", "image": "vlmhb/base-cpu"}}
    )
    assert spec.name == "m" and spec.env.image == "vlmhb/base-cpu"
