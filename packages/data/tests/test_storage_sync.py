"""Smart Sync against the local S3 server: only what changed is downloaded, a warm sync
is one GET, transient failures are retried (a cut transfer resumes with a ranged GET),
the checksum setting reaches the wire, folder push/pull rules."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmhb.core.storage import DATASET_MANIFEST
from vlmhb.data.storage.store import S3DataStore
from vlmhb.data.testing.fixtures import S3Server

Files = Callable[..., dict[str, bytes]]
SIZES = {f"images/{i}.bin": 20_000 + i for i in range(5)} | {"labels.csv": 3_000}


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != DATASET_MANIFEST
    }


def _gets(s3_server: S3Server, bucket: str) -> Counter[str]:
    return Counter(r["key"] for r in s3_server.object_requests(bucket))


def _pushed(s3_server: S3Server, tmp_path: Path, write_files: Files) -> tuple[str, str, Path]:
    bucket = s3_server.make_bucket()
    source = tmp_path / "dataset"
    write_files(source, SIZES)
    uri = f"s3://{bucket}/ds"
    S3DataStore().push_folder(source, uri)
    return bucket, uri, source


def test_changed_file_is_the_only_one_downloaded_again(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket, uri, source = _pushed(s3_server, tmp_path, write_files)
    store = S3DataStore()
    with store.materialise(uri) as first:
        assert _tree(first) == _tree(source)
    (source / "images/2.bin").write_bytes(b"changed" * 100)
    s3_server.reset()
    assert store.push_folder(source, uri) == 1
    puts = Counter(r["key"] for r in s3_server.object_requests(bucket, "PUT"))
    assert puts == {"ds/images/2.bin": 1, f"ds/{DATASET_MANIFEST}": 1}

    s3_server.reset()
    with store.materialise(uri) as second:
        assert second != first
        assert _tree(second) == _tree(source)
    assert _gets(s3_server, bucket) == {f"ds/{DATASET_MANIFEST}": 1, "ds/images/2.bin": 1}


def test_warm_sync_is_one_request(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket, uri, _ = _pushed(s3_server, tmp_path, write_files)
    store = S3DataStore()
    with store.materialise(uri):
        pass
    s3_server.reset()
    with store.materialise(uri) as folder:
        assert (folder / "labels.csv").is_file()
    assert [r["path"] for r in s3_server.requests()] == [f"/{bucket}/ds/{DATASET_MANIFEST}"]


def test_server_errors_are_retried(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket, uri, source = _pushed(s3_server, tmp_path, write_files)
    s3_server.reset()
    s3_server.fault("GET", "/ds/images/3.bin", status=503, count=2)
    s3_server.fault("GET", "/ds/labels.csv", status=500, count=1)
    with S3DataStore().materialise(uri) as folder:
        assert _tree(folder) == _tree(source)
    statuses = {
        key: [r["status"] for r in s3_server.object_requests(bucket) if r["key"] == key]
        for key in ("ds/images/3.bin", "ds/labels.csv")
    }
    assert statuses == {"ds/images/3.bin": [503, 503, 200], "ds/labels.csv": [500, 200]}


def test_cut_transfer_resumes_with_a_ranged_get(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket = s3_server.make_bucket()
    source = tmp_path / "dataset"
    write_files(source, {"big.bin": 3_000_000, "small.bin": 10})
    uri = f"s3://{bucket}/cut"
    store = S3DataStore()
    store.push_folder(source, uri)
    s3_server.reset()
    s3_server.fault("GET", "/cut/big.bin", cut_after_bytes=1_000_000)
    with store.materialise(uri) as folder:
        assert _tree(folder) == _tree(source)
    tries = [r for r in s3_server.object_requests(bucket) if r["key"] == "cut/big.bin"]
    assert len(tries) == 2
    assert tries[0]["range"] is None
    start = int(tries[1]["range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= 1_000_000
    assert tries[1]["status"] == 206


@pytest.mark.parametrize(("setting", "sent"), [("when_required", False), ("when_supported", True)])
def test_checksum_setting_decides_the_upload_headers(
    setting: str,
    sent: bool,
    s3_server: S3Server,
    storage_env: dict[str, str],
    tmp_path: Path,
    write_files: Files,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VLMHB_S3_CHECKSUM", setting)
    bucket = s3_server.make_bucket()
    write_files(tmp_path / "d", {"a.bin": 5_000, "b.bin": 9 * 1024 * 1024})
    s3_server.reset()
    S3DataStore().push_folder(tmp_path / "d", f"s3://{bucket}/c")
    uploads = [
        r for r in s3_server.object_requests(bucket, "PUT") if r["key"] != "c/" + DATASET_MANIFEST
    ]
    assert len(uploads) >= 3  # a.bin and two parts of b.bin
    for request in uploads:
        has_checksum = any("checksum" in name for name in request["headers"])
        assert has_checksum is sent, request


def test_datasets_sharing_a_file_fetch_it_once(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket = s3_server.make_bucket()
    shared = write_files(tmp_path / "one", {"shared.bin": 2_000_000, "one.bin": 100})
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "same-content.bin").write_bytes(shared["shared.bin"])
    (tmp_path / "two" / "two.bin").write_bytes(b"two")
    store = S3DataStore()
    store.push_folder(tmp_path / "one", f"s3://{bucket}/one")
    store.push_folder(tmp_path / "two", f"s3://{bucket}/two")
    s3_server.reset()
    s3_server.throttle(4_000_000)  # both syncs are under way at once
    errors: list[BaseException] = []

    def sync(name: str) -> None:
        try:
            with S3DataStore().materialise(f"s3://{bucket}/{name}"):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    gets = _gets(s3_server, bucket)
    assert gets["one/shared.bin"] + gets["two/same-content.bin"] == 1


def test_push_leaves_out_excluded_files(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket = s3_server.make_bucket()
    folder = tmp_path / "exp"
    write_files(
        folder,
        {"report.md": 10, "x.lock": 1, ".tasks/a.lock": 1, "run-a/answers.csv": 5, "keep/b": 2},
    )
    store = S3DataStore()
    assert store.push_folder(folder, f"s3://{bucket}/r", exclude=("*.lock", "run-a")) == 2
    keys = sorted(
        item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    )
    assert keys == ["r/keep/b", "r/report.md", f"r/{DATASET_MANIFEST}"]


def test_pull_folder_keeps_local_work_unless_overwrite(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket, uri, source = _pushed(s3_server, tmp_path, write_files)
    store = S3DataStore()
    local = tmp_path / "local"
    (local / "images").mkdir(parents=True)
    (local / "images/0.bin").write_bytes(b"my own work")
    (local / "notes.txt").write_bytes(b"not in the dataset")

    assert store.pull_folder(uri, local) == len(SIZES) - 1
    assert (local / "images/0.bin").read_bytes() == b"my own work"
    assert store.pull_folder(uri, local, overwrite=True) == 1
    assert (local / "images/0.bin").read_bytes() == (source / "images/0.bin").read_bytes()
    assert (local / "notes.txt").read_bytes() == b"not in the dataset"
    assert not list(local.rglob("*.vlmhb-part"))

    empty = tmp_path / "nothing"
    assert store.pull_folder(f"s3://{bucket}/no-such-prefix", empty) == 0
    assert not empty.exists()
