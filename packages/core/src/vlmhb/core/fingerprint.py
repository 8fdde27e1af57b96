"""Stable fingerprints of datasets (they join the run id): a local folder's ground-truth
files by content and images by size (cheap); a storage URI's manifest hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vlmhb.core.contracts import DatasetSpec
from vlmhb.core.storage import data_store

GROUND_TRUTH_SUFFIXES = {".csv", ".json", ".jsonl", ".txt", ".yaml", ".yml"}


def dataset_fingerprint(path: Path) -> str:
    """sha256 over every file's relative name and size, plus the content of annotation
    files (CSV/JSON/...). Images are covered by name and size only, to stay fast."""
    digest = hashlib.sha256()
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        rel = file.relative_to(root).as_posix() if root.is_dir() else file.name
        digest.update(f"{rel}\0{file.stat().st_size}\0".encode())
        if file.suffix.lower() in GROUND_TRUTH_SUFFIXES:
            with file.open("rb") as handle:  # streamed: a huge file never fills memory
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def spec_fingerprint(dataset: DatasetSpec) -> str:
    """The fingerprint of ``dataset``: of its folder, or (a URI dataset) the first 16 hex
    digits of its manifest hash, read from storage (``StorageError`` if unreachable)."""
    if dataset.uri:
        return data_store(dataset.uri).dataset_hash(dataset.uri)[:16]
    assert dataset.path is not None  # DatasetSpec has one of them
    return dataset_fingerprint(dataset.path)
