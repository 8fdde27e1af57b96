"""Syncs as separate processes (``python -m vlmhb.data.storage.cli pull``): one killed
half-way resumes with a ranged GET; four at once download each blob once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from vlmhb.core.storage import DATASET_MANIFEST
from vlmhb.data.storage.cli import app
from vlmhb.data.storage.store import S3DataStore
from vlmhb.data.testing.fixtures import S3Server

Files = Callable[..., dict[str, bytes]]
PULL = [sys.executable, "-m", "vlmhb.data.storage.cli", "pull"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != DATASET_MANIFEST
    }


def test_killed_sync_resumes_with_a_ranged_get(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    written = write_files(tmp_path / "src", {"big.bin": 12 * 1024 * 1024, "small.bin": 1_000})
    bucket = s3_server.make_bucket()
    uri = f"s3://{bucket}/resume"
    S3DataStore().push_folder(tmp_path / "src", uri)
    sha = hashlib.sha256(written["big.bin"]).hexdigest()
    part = tmp_path / "cache" / "tmp" / f"{sha}.part"
    s3_server.reset()
    s3_server.throttle(2_000_000)

    process = subprocess.Popen(
        [*PULL, uri, str(tmp_path / "dst")],
        env={**os.environ, **storage_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not (part.exists() and part.stat().st_size > 1_000_000):
            assert process.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline, "no partial download appeared"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(30)
    partial = part.stat().st_size
    assert 1_000_000 < partial < len(written["big.bin"])
    assert not (tmp_path / "dst").exists()

    s3_server.reset()
    result = CliRunner().invoke(app, ["pull", uri, str(tmp_path / "dst")])
    assert result.exit_code == 0, result.output
    tries = [r for r in s3_server.object_requests(bucket) if r["key"] == "resume/big.bin"]
    assert [(r["range"], r["status"]) for r in tries] == [(f"bytes={partial}-", 206)]
    assert _tree(tmp_path / "dst") == written
    assert not part.exists()


def test_four_processes_syncing_one_dataset_fetch_each_blob_once(
    s3_server: S3Server, storage_env: dict[str, str], tmp_path: Path, write_files: Files
) -> None:
    written = write_files(tmp_path / "src", {f"f{i}.bin": 300_000 + i for i in range(8)})
    bucket = s3_server.make_bucket()
    uri = f"s3://{bucket}/four"
    S3DataStore().push_folder(tmp_path / "src", uri)
    s3_server.reset()
    s3_server.throttle(3_000_000)  # long enough for the four to overlap

    processes = [
        subprocess.Popen(
            [*PULL, uri, str(tmp_path / f"dst{i}")],
            env={**os.environ, **storage_env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
    gets = Counter(r["key"] for r in s3_server.object_requests(bucket))
    assert gets.pop(f"four/{DATASET_MANIFEST}") == 4
    assert gets == {f"four/{name}": 1 for name in written}
    for i in range(4):
        assert _tree(tmp_path / f"dst{i}") == written
