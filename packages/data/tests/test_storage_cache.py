"""The cache's size limit and gc: least recently used datasets go first, a dataset held
by an open ``materialise()`` never goes, blobs another dataset links stay."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmhb.data.storage.cache import Cache
from vlmhb.data.storage.housekeeping import plan_gc, run_gc
from vlmhb.data.storage.store import S3DataStore
from vlmhb.data.testing.fixtures import S3Server

Files = Callable[..., dict[str, bytes]]
SIZE = 200_000  # each dataset: one file of this size


@pytest.fixture
def three(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> dict[str, str]:
    """Datasets old, mid, new (different content), cached in that order of last use."""
    bucket = s3_server.make_bucket()
    store = S3DataStore()
    uris = {}
    for seed, name in enumerate(("old", "mid", "new")):
        write_files(tmp_path / name, {"data.bin": SIZE}, seed=seed)
        uris[name] = f"s3://{bucket}/{name}"
        store.push_folder(tmp_path / name, uris[name])
    cache = Cache(tmp_path / "cache")
    for age, name in zip((300, 200, 100), uris, strict=True):
        with store.materialise(uris[name]):
            pass
        used = time.time() - age
        os.utime(cache.use_lock_path(store.dataset_hash(uris[name])), (used, used))
    return uris


def _cached(uris: dict[str, str]) -> set[str]:
    store = S3DataStore()
    hashes = {store.dataset_hash(uri): name for name, uri in uris.items()}
    return {hashes[h] for h in store.cache.dataset_hashes() if store.cache.is_complete(h)}


def test_gc_evicts_the_least_recently_used(three: dict[str, str], tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    assert cache.size_bytes() == 3 * SIZE
    freed = run_gc(cache, plan_gc(cache, max_bytes=2 * SIZE))
    assert freed == SIZE
    assert _cached(three) == {"mid", "new"}
    assert cache.size_bytes() == 2 * SIZE


def test_gc_never_evicts_a_dataset_in_use(three: dict[str, str], tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    store = S3DataStore()
    with store.materialise(three["old"]) as folder:
        old_hash = store.dataset_hash(three["old"])
        os.utime(cache.use_lock_path(old_hash), (0, 0))  # the oldest, but in use
        run_gc(cache, plan_gc(cache, max_bytes=0))
        assert _cached(three) == {"old"}
        assert (folder / "data.bin").stat().st_size == SIZE
    assert cache.size_bytes() == SIZE


def test_size_limit_is_kept_after_each_sync(
    three: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_files: Files
) -> None:
    monkeypatch.setenv("VLMHB_DATA_CACHE_MAX_BYTES", str(int(3.5 * SIZE)))
    write_files(tmp_path / "fourth", {"data.bin": SIZE}, seed=9)
    uri = three["old"].rsplit("/", 1)[0] + "/fourth"
    store = S3DataStore()
    store.push_folder(tmp_path / "fourth", uri)
    with store.materialise(uri):
        assert _cached({**three, "fourth": uri}) == {"mid", "new", "fourth"}
    assert store.cache.size_bytes() <= 3.5 * SIZE


def test_a_blob_another_dataset_links_stays(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    bucket = s3_server.make_bucket()
    shared = write_files(tmp_path / "a", {"shared.bin": SIZE, "only-a.bin": 10})
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "shared.bin").write_bytes(shared["shared.bin"])
    store = S3DataStore()
    for name in ("a", "b"):
        store.push_folder(tmp_path / name, f"s3://{bucket}/{name}")
    with store.materialise(f"s3://{bucket}/b") as kept:
        with store.materialise(f"s3://{bucket}/a"):
            pass
        plan = plan_gc(store.cache, max_bytes=0)
        assert len(plan.datasets) == 1 and len(plan.blobs) == 1  # only-a.bin
        assert run_gc(store.cache, plan) == 10
        assert (kept / "shared.bin").read_bytes() == shared["shared.bin"]
    assert store.cache.size_bytes() == SIZE


def test_cache_cli_ls_and_gc_dry_run(three: dict[str, str], tmp_path: Path) -> None:
    from vlmhb.data.storage.cli import app

    runner = CliRunner()
    store = S3DataStore()
    with store.materialise(three["new"]):
        listing = " ".join(runner.invoke(app, ["cache", "ls"]).output.split())
    assert "3 datasets, 600.0 kB" in listing
    new_hash = store.dataset_hash(three["new"])
    assert f"{new_hash[:16]} {three['new']} 1 files 200.0 kB" in listing
    assert listing.count("in use") == 1

    result = runner.invoke(app, ["cache", "gc", "--max-bytes", "0", "--dry-run"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "would free 600.0 kB (3 datasets" in out
    assert _cached(three) == {"old", "mid", "new"}
    result = runner.invoke(app, ["cache", "gc", "--max-bytes", "250000"])
    assert result.exit_code == 0 and _cached(three) == {"new"}
