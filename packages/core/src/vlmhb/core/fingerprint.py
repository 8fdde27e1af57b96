"""Cheap, stable fingerprints of datasets: ground-truth files by content, images by size."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
