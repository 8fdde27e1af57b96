"""``vlmhb data``: push, ls, pull, verify (folders and URIs), cache verify and repair of
a same-size corruption, progress lines when piped."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from vlmhb.core.storage import DATASET_MANIFEST, SyncProgress
from vlmhb.data.storage.manifest import read_manifest
from vlmhb.data.storage.progress import TransferProgress
from vlmhb.data.storage.store import S3DataStore
from vlmhb.data.testing.fixtures import S3Server

runner = CliRunner()
Files = Callable[..., dict[str, bytes]]
SIZES = {"a.bin": 70_000, "sub/b.bin": 1_500, "sub/deeper/c.txt": 10}


def _invoke(*args: str) -> tuple[int, str]:
    from vlmhb.data.storage.cli import app

    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_push_ls_pull_verify(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    written = write_files(tmp_path / "src", SIZES)
    uri = f"s3://{s3_server.make_bucket()}/cli"
    code, out = _invoke("push", str(tmp_path / "src"), uri)
    assert code == 0 and "pushed 3 of 3 files" in out
    dataset_hash = read_manifest(tmp_path / "src").dataset_hash()  # written into DIR
    assert f"dataset hash {dataset_hash}" in out

    code, out = _invoke("ls", uri)
    assert code == 0
    assert "70,000 a.bin" in out and "sub/deeper/c.txt" in out
    assert f"3 files, 71.5 kB, dataset hash {dataset_hash}" in out

    code, out = _invoke("pull", uri, str(tmp_path / "dst"))
    assert code == 0 and "3 copied" in out
    for relpath, data in written.items():
        assert (tmp_path / "dst" / relpath).read_bytes() == data
    assert read_manifest(tmp_path / "dst").dataset_hash() == dataset_hash
    (tmp_path / "dst" / "a.bin").write_bytes(b"x")  # writable copies, not links to the cache
    assert S3DataStore().dataset_hash(uri) == dataset_hash

    for target in (str(tmp_path / "src"), uri):
        code, out = _invoke("verify", target)
        assert code == 0 and "3 files checked, ok" in out, out
    code, out = _invoke("verify", uri, "--deep")
    assert code == 0 and "ok" in out


def test_verify_finds_same_size_changes_and_missing_objects(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    write_files(tmp_path / "src", SIZES)
    bucket = s3_server.make_bucket()
    uri = f"s3://{bucket}/v"
    assert _invoke("push", str(tmp_path / "src"), uri)[0] == 0
    assert _invoke("pull", uri, str(tmp_path / "dst"))[0] == 0
    target = tmp_path / "dst" / "sub" / "b.bin"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))

    code, out = _invoke("verify", str(tmp_path / "dst"))
    assert code == 1 and "sub/b.bin: content differs (sha256), same size" in out
    code, out = _invoke("pull", uri, str(tmp_path / "dst"))
    assert code == 0 and "kept 1 local files that differ" in out
    assert _invoke("pull", uri, str(tmp_path / "dst"), "--overwrite")[0] == 0
    assert _invoke("verify", str(tmp_path / "dst"))[0] == 0

    client = s3_server.client()
    client.delete_object(Bucket=bucket, Key="v/a.bin")
    body = b"y" * 1_500
    client.put_object(Bucket=bucket, Key="v/sub/b.bin", Body=body, Metadata={"sha256": "0" * 64})
    code, out = _invoke("verify", uri)
    assert code == 1
    assert "a.bin: missing" in out and "sub/b.bin: sha256 metadata differs" in out


def test_cache_verify_finds_and_repairs_a_same_size_corruption(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    written = write_files(tmp_path / "src", SIZES)
    bucket = s3_server.make_bucket()
    uri = f"s3://{bucket}/rep"
    store = S3DataStore()
    store.push_folder(tmp_path / "src", uri)
    with store.materialise(uri) as folder:
        pass
    sha = hashlib.sha256(written["a.bin"]).hexdigest()
    blob = tmp_path / "cache" / "blobs" / sha[:2] / sha
    assert os.path.samefile(blob, folder / "a.bin")
    blob.chmod(0o644)
    corrupted = bytearray(blob.read_bytes())
    corrupted[5] ^= 0x01
    blob.write_bytes(bytes(corrupted))  # same size: size checks never see it

    code, out = _invoke("cache", "verify")
    assert code == 1 and f"blob {sha[:12]}: content does not match its sha256" in out
    code, out = _invoke("verify", str(folder))
    assert code == 1 and "a.bin: content differs" in out

    s3_server.reset()
    code, out = _invoke("cache", "verify", "--repair")
    assert code == 0 and "repaired 1 problems" in out
    assert [r["key"] for r in s3_server.object_requests(bucket)] == ["rep/a.bin"]
    assert (folder / "a.bin").read_bytes() == written["a.bin"]
    assert os.path.samefile(blob, folder / "a.bin")
    assert (folder.parent / "COMPLETE").is_file()
    assert _invoke("cache", "verify")[0] == 0
    s3_server.reset()
    with store.materialise(uri) as again:
        assert again == folder
    assert [r["key"] for r in s3_server.object_requests(bucket)] == [f"rep/{DATASET_MANIFEST}"]


def test_ls_without_a_manifest_lists_the_objects(
    s3_server: S3Server, storage_env: dict[str, str]
) -> None:
    bucket = s3_server.make_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="raw/one.txt", Body=b"12345")
    code, out = _invoke("ls", f"s3://{bucket}/raw")
    assert code == 0
    assert f"no dataset manifest at s3://{bucket}/raw" in out and "5 one.txt" in out


def test_progress_lines_when_piped(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    write_files(tmp_path / "src", {"a.bin": 1_500_000, "b.bin": 1_500_000, "c.bin": 10})
    uri = f"s3://{s3_server.make_bucket()}/progress"
    S3DataStore().push_folder(tmp_path / "src", uri)
    s3_server.throttle(1_000_000)
    vlmhb = Path(sys.executable).with_name("vlmhb")  # the real entry point, plugins mounted
    result = subprocess.run(
        [str(vlmhb), "data", "pull", uri, str(tmp_path / "dst")],
        capture_output=True,
        text=True,
        env={**os.environ, **storage_env},
        timeout=120,
    )
    s3_server.throttle(None)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"sync {uri}: ")]
    pattern = re.compile(r"^sync \S+: (\d)/3 files, [\d.]+ \w+/3\.0 MB, [\d.]+ \w+/s")
    assert len(lines) >= 2, result.stdout
    assert all(pattern.match(line) for line in lines), lines
    assert lines[-1].startswith(f"sync {uri}: 3/3 files, 3.0 MB/3.0 MB")
    assert "ETA" in lines[0] and "\x1b[" not in result.stdout


def _updates() -> list[SyncProgress]:
    return [
        SyncProgress("sync s3://b/p", 0, 4, 1_000_000, 8_000_000, 0.5),
        SyncProgress("sync s3://b/p", 2, 4, 4_000_000, 8_000_000, 1.0),
        SyncProgress("sync s3://b/p", 4, 4, 8_000_000, 8_000_000, 2.0),
    ]


def test_progress_is_a_bar_on_a_terminal() -> None:
    out = io.StringIO()
    with TransferProgress(Console(file=out, force_terminal=True, width=150)) as progress:
        for update in _updates():
            progress(update)
    text = out.getvalue()
    assert "sync s3://b/p" in text and "4/4 files" in text and "8.0/8.0 MB" in text


def test_progress_lines_are_throttled_when_not_a_terminal() -> None:
    out = io.StringIO()
    with TransferProgress(Console(file=out, width=80)) as progress:
        for update in _updates():
            progress(update)
    assert out.getvalue().splitlines() == [
        "sync s3://b/p: 0/4 files, 1.0 MB/8.0 MB, 2.0 MB/s, ETA 4 s, 0.5 s",
        "sync s3://b/p: 4/4 files, 8.0 MB/8.0 MB, 4.0 MB/s, 2.0 s",
    ]
