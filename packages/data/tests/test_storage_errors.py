"""What the user can fix gets a clear error naming it: wrong credentials (checked by the
server), a missing bucket or manifest, an unreachable endpoint, traversal paths in a
manifest. Nothing is written outside the cache; no credential is ever printed."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmhb.core.storage import DATASET_MANIFEST, StorageError
from vlmhb.data.storage.cli import app
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.store import S3DataStore
from vlmhb.data.testing.fixtures import S3Server

runner = CliRunner()
Files = Callable[..., dict[str, bytes]]
SHA = "0" * 64


def _snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def dataset_uri(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> str:
    write_files(tmp_path / "src", {"a.bin": 100})
    uri = f"s3://{s3_server.make_bucket()}/ds"
    S3DataStore().push_folder(tmp_path / "src", uri)
    return uri


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("VLMHB_S3_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0", "InvalidAccessKeyId"),
        ("VLMHB_S3_SECRET_ACCESS_KEY", "not-the-secret-key-at-all", "SignatureDoesNotMatch"),
    ],
)
def test_wrong_credentials_are_named(
    variable: str,
    value: str,
    code: str,
    dataset_uri: str,
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(StorageError) as caught:
        S3DataStore().dataset_hash(dataset_uri)
    message = str(caught.value)
    assert code in message and dataset_uri in message and "VLMHB_S3_" in message
    result = runner.invoke(app, ["pull", dataset_uri, str(tmp_path / "out")])
    assert result.exit_code == 2
    assert code in result.output and "Traceback" not in result.output
    for secret in (value, s3_server.secret_key, s3_server.access_key):
        assert secret not in message and secret not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_bucket_is_named(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path
) -> None:
    uri = "s3://no-such-bucket-here/ds"
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist"):
        S3DataStore().dataset_hash(uri)
    result = runner.invoke(app, ["ls", uri])
    assert result.exit_code == 2 and "NoSuchBucket" in result.output


def test_missing_manifest_says_how_to_push(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path
) -> None:
    uri = f"s3://{s3_server.make_bucket()}/nothing/here"
    expected = f"no dataset manifest at {uri} — push the dataset with `vlmhb data push DIR {uri}`"
    with pytest.raises(StorageError) as caught, S3DataStore().materialise(uri):
        pass
    assert str(caught.value) == expected
    result = runner.invoke(app, ["pull", uri, str(tmp_path / "out")])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
    assert not (tmp_path / "cache" / "datasets").exists()


def test_unreachable_endpoint_is_named(
    storage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("VLMHB_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("VLMHB_TRANSFER_RETRIES", "0")
    with pytest.raises(StorageError, match=f"cannot reach the S3 endpoint http://127.0.0.1:{port}"):
        S3DataStore().dataset_hash("s3://bucket/ds")


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", "a//b", "a\\..\\x", "./x"])
def test_traversal_paths_in_a_manifest_are_refused(
    path: str, s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path
) -> None:
    bucket = s3_server.make_bucket()
    manifest = {"version": 1, "files": [{"path": path, "size": 1, "sha256": SHA}]}
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key=f"evil/{DATASET_MANIFEST}", Body=json.dumps(manifest))
    client.put_object(Bucket=bucket, Key="evil/x", Body=b"x")
    uri = f"s3://{bucket}/evil"
    before = _snapshot(tmp_path)

    with pytest.raises(StorageError, match="refused path"), S3DataStore().materialise(uri):
        pass
    result = runner.invoke(app, ["pull", uri, str(tmp_path / "out")])
    assert result.exit_code == 2 and "refused path" in result.output
    with pytest.raises(StorageError, match="refused path"):
        S3DataStore().pull_folder(uri, tmp_path / "out")
    assert _snapshot(tmp_path) == before  # the cache, its parent, the target: untouched


def test_settings_never_show_credentials(s3_server: S3Server, storage_env: dict[str, str]) -> None:
    settings = StorageSettings()
    assert settings.s3_secret_access_key is not None
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert s3_server.secret_key not in text


def test_cli_output_holds_no_credentials(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    write_files(tmp_path / "src", {"a.bin": 1000, "b/c.bin": 50})
    uri = f"s3://{s3_server.make_bucket()}/creds"
    outputs = [
        runner.invoke(app, args).output
        for args in (
            ["push", str(tmp_path / "src"), uri],
            ["ls", uri],
            ["pull", uri, str(tmp_path / "out")],
            ["verify", uri, "--deep"],
            ["cache", "ls"],
            ["ls", "s3://missing-bucket-x/p"],
        )
    ]
    text = "\n".join(outputs)
    assert "dataset hash" in text and "NoSuchBucket" in text
    assert s3_server.secret_key not in text and s3_server.access_key not in text
    cache_text = "\n".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert s3_server.secret_key not in cache_text and s3_server.access_key not in cache_text
