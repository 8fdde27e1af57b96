"""Fixtures for the data package tests: the shared read-only fixtures and tiny datasets."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from vlmhb.data.testing.fixtures import S3Server, s3_server  # noqa: F401 (a fixture)

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    """The read-only shared fixtures folder; skips when this checkout has none."""
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED}")
    return SHARED


def _write_image(path: Path, size: tuple[int, int] = (200, 100)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (255, 255, 255)).save(path, format="JPEG")
    return path


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """``make_image(path, size=(200, 100))`` writes a small valid JPEG and returns its path."""
    return _write_image


# -- storage tests: the local S3 server, a private cache, files of chosen sizes ----------


@pytest.fixture
def storage_env(
    s3_server: S3Server,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """This test's environment for storage: the S3 server's VLMHB_S3_* variables, a
    private cache (``tmp_path/cache``), short retry waits, no AWS variables from outside;
    the variables."""
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **s3_server.env(),
        "VLMHB_DATA_CACHE_DIR": str(tmp_path / "cache"),
        "VLMHB_TRANSFER_BACKOFF_S": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _write_files(folder: Path, sizes: dict[str, int], seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    written = {}
    for relpath, size in sizes.items():
        path = folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size)
        path.write_bytes(data)
        written[relpath] = data
    return written


@pytest.fixture
def write_files() -> Callable[..., dict[str, bytes]]:
    """``write_files(folder, {"a/b.bin": 1000, ...}, seed=0)`` writes random bytes of those
    sizes; returns path → content."""
    return _write_files
