"""Checking a dataset against its manifest: a local folder (every file rehashed) or the
objects at a URI (sizes and ``sha256`` metadata; ``deep``: downloaded and hashed)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, cast

from vlmhb.data.storage.manifest import Manifest, ManifestEntry, sha256_file
from vlmhb.data.storage.provider import StorageProvider
from vlmhb.data.storage.uri import safe_join, safe_relpath


def verify_folder(folder: Path, manifest: Manifest, workers: int) -> list[str]:
    """What in ``folder`` differs from ``manifest``: missing files, other sizes, other
    content."""

    def check(entry: ManifestEntry) -> str | None:
        path = safe_join(folder, safe_relpath(entry.path))
        if not path.is_file():
            return f"{entry.path}: missing"
        size = path.stat().st_size
        if size != entry.size:
            return f"{entry.path}: size {size}, the manifest says {entry.size}"
        if sha256_file(path) != entry.sha256:
            return f"{entry.path}: content differs (sha256), same size"
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [problem for problem in pool.map(check, manifest.files) if problem]


class _HashSink:
    """A write-only file that hashes what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)

    def truncate(self, size: int = 0) -> int:
        self.digest = hashlib.sha256()
        return size


def verify_remote(
    provider: StorageProvider, manifest: Manifest, workers: int, deep: bool = False
) -> tuple[list[str], list[str]]:
    """Problems (missing objects, other sizes, other ``sha256`` metadata or, ``deep``,
    other content) and notes (objects without ``sha256`` metadata) of the objects at
    ``provider`` against ``manifest``."""
    sizes = {item.key: item.size for item in provider.list()}

    def check(entry: ManifestEntry) -> tuple[str | None, str | None]:
        if entry.path not in sizes:
            return f"{entry.path}: missing", None
        if sizes[entry.path] != entry.size:
            return f"{entry.path}: size {sizes[entry.path]}, the manifest says {entry.size}", None
        head = provider.head(entry.path)
        stored = head.sha256 if head else None
        if stored is not None and stored != entry.sha256:
            return f"{entry.path}: sha256 metadata differs from the manifest", None
        if deep:
            sink = _HashSink()
            provider.download(entry.path, cast(BinaryIO, sink))
            if sink.digest.hexdigest() != entry.sha256:
                return f"{entry.path}: content differs (sha256)", None
        return None, (f"{entry.path}: no sha256 metadata" if stored is None else None)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, manifest.files))
    return [p for p, _ in results if p], [n for _, n in results if n]
