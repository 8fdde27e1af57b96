"""Storage URIs in configs: ``path: s3://...`` names a URI dataset, which keeps its run id
whatever local copy a node gives it; a submitted config may use only the URIs the server
allows (``VLMHB_DATA_URIS``), each test trying to break that rule; unknown schemes and
malformed URIs are errors naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from vlmhb.core.config import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.contracts import DatasetSpec, GenerationParams, ModelSpec, RunSpec, TaskSpec
from vlmhb.core.envs.policy import is_path
from vlmhb.core.errors import ConfigError
from vlmhb.core.fieldtypes import PathRole

ALLOWED = "s3://team-data/datasets"


def experiment(dataset: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "exp",
        "models": [{"name": "m", "backend": "scripted"}],
        "datasets": [{"name": "d", "format": "vqa_csv", **dataset}],
        "tasks": [{"name": "t", "dataset": "d", "metrics": ["cer"]}],
        **extra,
    }


def write(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "submitted.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def policy(tmp_path: Path) -> SubmissionPolicy:
    (tmp_path / "data").mkdir()
    return SubmissionPolicy(
        data_roots=(tmp_path / "data",), output_root=tmp_path / "runs", data_uris=(ALLOWED,)
    )


def test_a_uri_in_path_names_a_storage_dataset() -> None:
    spec = DatasetSpec.model_validate({"name": "d", "format": "vqa_csv", "path": f"{ALLOWED}/a"})
    assert spec.uri == f"{ALLOWED}/a" and spec.path is None
    with pytest.raises(ValueError, match="needs 'path'"):
        DatasetSpec.model_validate({"name": "d", "format": "vqa_csv"})
    with pytest.raises(ValueError, match="not a storage URI"):
        DatasetSpec.model_validate({"name": "d", "format": "vqa_csv", "uri": "team-data/a"})


def test_a_uri_dataset_keeps_its_run_id_whatever_local_copy_it_gets(tmp_path: Path) -> None:
    dataset = DatasetSpec(name="d", format="vqa_csv", uri=f"{ALLOWED}/a")
    run = RunSpec(
        experiment="e",
        model=ModelSpec(name="m", backend="scripted"),
        task=TaskSpec(name="t", dataset="d"),
        dataset=dataset,
        generation=GenerationParams(),
        dataset_fingerprint="f" * 16,
    )
    on_node = run.model_copy(
        update={"dataset": dataset.model_copy(update={"path": tmp_path / "cache" / "x"})}
    )
    assert on_node.run_id == run.run_id
    elsewhere = run.model_copy(update={"dataset": dataset.model_copy(update={"uri": "s3://b/o"})})
    assert elsewhere.run_id != run.run_id
    local = DatasetSpec(name="d", format="vqa_csv", path=tmp_path)
    assert "uri" not in local.identity()  # a local dataset's run id is what it was before


def test_the_cli_may_name_any_uri(tmp_path: Path) -> None:
    spec = load_experiment(
        write(tmp_path, experiment({"path": "s3://any-bucket/x"}, results_uri="s3://out/r"))
    )
    assert spec.datasets[0].uri == "s3://any-bucket/x"
    assert spec.results_uri == "s3://out/r"


@pytest.mark.parametrize(
    "uri",
    [
        "s3://other-bucket/datasets/a",  # another bucket
        "s3://team-data/datasets-evil/a",  # a prefix that only starts like the allowed one
        "s3://team-data/datasets/../private/a",  # climbing out of the prefix
        "s3://team-data/datasets//a",  # an empty segment
        "file:///etc",  # another scheme
    ],
)
def test_a_submitted_dataset_uri_must_lie_under_an_allowed_prefix(
    uri: str, policy: SubmissionPolicy
) -> None:
    path = write(policy.data_roots[0], experiment({"path": uri}))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path, policy=policy)
    assert "VLMHB_DATA_URIS" in str(caught.value)
    assert "datasets.0.uri" in str(caught.value) and str(path) in caught.value.location


def test_a_submitted_results_uri_must_lie_under_an_allowed_prefix(
    policy: SubmissionPolicy,
) -> None:
    root = policy.data_roots[0]
    (root / "mini").mkdir()
    refused = write(root, experiment({"path": "mini"}, results_uri="s3://elsewhere/results"))
    with pytest.raises(ConfigError, match="results_uri"):
        load_experiment(refused, policy=policy)
    allowed = write(root, experiment({"path": f"{ALLOWED}/a"}, results_uri=f"{ALLOWED}/runs"))
    spec = load_experiment(allowed, policy=policy)
    assert spec.results_uri == f"{ALLOWED}/runs" and spec.datasets[0].uri == f"{ALLOWED}/a"


def test_without_allowed_uris_a_submitted_config_names_none(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    policy = SubmissionPolicy(data_roots=(tmp_path / "data",), output_root=tmp_path / "runs")
    path = write(tmp_path / "data", experiment({"path": f"{ALLOWED}/a"}))
    with pytest.raises(ConfigError, match="VLMHB_DATA_URIS"):
        load_experiment(path, policy=policy)


def test_an_unknown_scheme_is_named_with_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, experiment({"path": "s4://bucket/a"}))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert "s4" in str(caught.value) and "s3" in str(caught.value)


def test_a_storage_uri_is_never_a_path_to_mount() -> None:
    """A container stage mounts a URI dataset's local copy (``path``), never the URI."""
    assert not is_path(PathRole.URI, "s3://team-data/datasets/a")
    assert is_path(PathRole.INPUT, "/data/a")
