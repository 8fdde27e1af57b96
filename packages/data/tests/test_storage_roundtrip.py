"""Push a folder to S3 (the local moto server) and bring it back, byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlmhb.core.storage import DATASET_MANIFEST
from vlmhb.data.storage.manifest import build_manifest
from vlmhb.data.storage.store import FileDataStore, S3DataStore
from vlmhb.data.testing.fixtures import S3Server

SIZES = {
    "empty.txt": 0,
    "small.bin": 1_000,
    "images/mid.bin": 300_000,
    "images/deep/big.bin": 9 * 1024 * 1024,  # over 8 MiB: a multipart upload
}


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != DATASET_MANIFEST
    }


def test_s3_push_materialise_pull_round_trip(
    s3_server: S3Server,
    storage_env: dict[str, str],
    tmp_path: Path,
    write_files: Callable[..., dict[str, bytes]],
) -> None:
    source = tmp_path / "dataset"
    written = write_files(source, SIZES)
    uri = f"s3://{s3_server.make_bucket()}/datasets/round-trip"
    store = S3DataStore()

    assert store.push_folder(source, uri) == len(SIZES)
    assert store.dataset_hash(uri) == build_manifest(source).dataset_hash()
    with store.materialise(uri) as folder:
        assert _tree(folder) == written
        assert (folder / DATASET_MANIFEST).is_file()
    pulled = tmp_path / "pulled"
    assert store.pull_folder(uri, pulled) == len(SIZES)
    assert _tree(pulled) == written
    assert store.pull_folder(uri, pulled) == 0  # nothing lacking
    assert store.push_folder(source, uri) == 0  # nothing changed


def test_file_store_round_trip(
    storage_env: dict[str, str], tmp_path: Path, write_files: Callable[..., dict[str, bytes]]
) -> None:
    source = tmp_path / "dataset"
    written = write_files(source, SIZES)
    remote = tmp_path / "remote"
    uri = f"file://{remote}"
    store = FileDataStore()

    assert store.push_folder(source, uri) == len(SIZES)
    assert _tree(remote) == written
    assert store.dataset_hash(uri) == build_manifest(source).dataset_hash()
    with store.materialise(uri) as folder:
        assert _tree(folder) == written
    pulled = tmp_path / "pulled"
    assert store.pull_folder(uri, pulled) == len(SIZES)
    assert _tree(pulled) == written
    assert store.push_folder(source, uri) == 0
