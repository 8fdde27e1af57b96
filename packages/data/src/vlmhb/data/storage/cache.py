"""This node's content-addressed cache of synced datasets.

Layout under ``root`` (``VLMHB_DATA_CACHE_DIR``):

- ``blobs/<sha[:2]>/<sha>``: file contents by sha256, read-only;
- ``tmp/<sha>.part``: a download in progress (resumed from its size);
- ``locks/<sha>.lock``: one flock per blob, held while it is fetched, linked or removed;
  ``locks/build-<hash>.lock``: held while a dataset folder is built;
- ``datasets/<hash>.lock``: held shared while the dataset is in use (its mtime: when it
  was last used); gc and eviction take it exclusively, without waiting;
- ``datasets/<hash>/files/``: the dataset as a stage sees it, hard links to the blobs
  plus its ``vlmhb-manifest.json``; ``datasets/<hash>/source.json``: the URI it came from
  (no credentials); ``datasets/<hash>/COMPLETE``: written last, a folder without it is
  never used.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vlmhb.core.storage import StorageError
from vlmhb.data.storage.locks import HeldLock, acquire, lock
from vlmhb.data.storage.manifest import Manifest, ManifestEntry, read_manifest, write_manifest

COMPLETE = "COMPLETE"
SOURCE = "source.json"
FILES = "files"

Fill = Callable[[Path], None]


@dataclass(frozen=True)
class CachedDataset:
    """A dataset folder of the cache, as ``vlmhb data cache ls`` shows it."""

    dataset_hash: str
    source: str | None
    files: int
    bytes: int
    last_used: float
    complete: bool
    in_use: bool


class Cache:
    """The cache under ``root``: blobs, partial downloads, locks, dataset folders."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"
        self.datasets = self.root / "datasets"

    # -- paths ---------------------------------------------------------------------
    def blob_path(self, sha: str) -> Path:
        return self.blobs / sha[:2] / sha

    def part_path(self, sha: str) -> Path:
        return self.tmp / f"{sha}.part"

    def blob_lock_path(self, sha: str) -> Path:
        return self.locks / f"{sha}.lock"

    def dataset_dir(self, dataset_hash: str) -> Path:
        return self.datasets / dataset_hash

    def files_dir(self, dataset_hash: str) -> Path:
        return self.dataset_dir(dataset_hash) / FILES

    def use_lock_path(self, dataset_hash: str) -> Path:
        return self.datasets / f"{dataset_hash}.lock"

    def is_complete(self, dataset_hash: str) -> bool:
        return (self.dataset_dir(dataset_hash) / COMPLETE).exists()

    # -- using and building datasets ---------------------------------------------------
    @contextmanager
    def in_use(self, dataset_hash: str) -> Iterator[None]:
        """Hold the dataset in use (shared lock; never evicted meanwhile); marks it used."""
        path = self.use_lock_path(dataset_hash)
        with lock(path, shared=True):
            os.utime(path)
            yield

    @contextmanager
    def building(self, dataset_hash: str, source: str) -> Iterator[Path]:
        """The dataset's folder, one builder at a time; its source recorded."""
        with lock(self.locks / f"build-{dataset_hash}.lock"):
            folder = self.dataset_dir(dataset_hash)
            (folder / FILES).mkdir(parents=True, exist_ok=True)
            (folder / SOURCE).write_text(json.dumps({"uri": source}))
            yield folder / FILES

    def finish(self, dataset_hash: str, manifest: Manifest) -> None:
        """Write the dataset's manifest, then its ``COMPLETE`` marker."""
        write_manifest(self.files_dir(dataset_hash), manifest)
        (self.dataset_dir(dataset_hash) / COMPLETE).write_text(manifest.dataset_hash())

    def has_blob(self, sha: str) -> bool:
        return self.blob_path(sha).exists()

    def add_blob(self, entry: ManifestEntry, fill: Fill, links: list[Path]) -> bool:
        """Under the blob's lock: fetch it if absent (``fill`` leaves the verified content
        in the partial file it is given), then hard-link it at each of ``links``. True
        when it was already cached."""
        sha = entry.sha256
        with lock(self.blob_lock_path(sha)):
            blob = self.blob_path(sha)
            hit = blob.exists()
            if not hit:
                self.tmp.mkdir(parents=True, exist_ok=True)
                part = self.part_path(sha)
                fill(part)
                part.chmod(0o444)
                blob.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, blob)
            for target in links:
                _link(blob, target)
            return hit

    # -- listing -----------------------------------------------------------------------
    def dataset_hashes(self) -> list[str]:
        if not self.datasets.is_dir():
            return []
        return sorted(p.name for p in self.datasets.iterdir() if p.is_dir())

    def source(self, dataset_hash: str) -> str | None:
        try:
            uri = json.loads((self.dataset_dir(dataset_hash) / SOURCE).read_text())["uri"]
        except (OSError, ValueError, KeyError):
            return None
        return str(uri)

    def manifest(self, dataset_hash: str) -> Manifest | None:
        try:
            return read_manifest(self.files_dir(dataset_hash))
        except StorageError:
            return None

    def last_used(self, dataset_hash: str) -> float:
        path = self.use_lock_path(dataset_hash)
        return path.stat().st_mtime if path.exists() else 0.0

    def try_evict_lock(self, dataset_hash: str) -> HeldLock | None:
        """The dataset's use lock held exclusively, or None while it is in use."""
        return acquire(self.use_lock_path(dataset_hash), blocking=False)

    def in_use_now(self, dataset_hash: str) -> bool:
        held = self.try_evict_lock(dataset_hash)
        if held is None:
            return True
        held.release()
        return False

    def describe(self) -> list[CachedDataset]:
        found = []
        for dataset_hash in self.dataset_hashes():
            manifest = self.manifest(dataset_hash)
            found.append(
                CachedDataset(
                    dataset_hash=dataset_hash,
                    source=self.source(dataset_hash),
                    files=len(manifest.files) if manifest else 0,
                    bytes=manifest.total_bytes if manifest else 0,
                    last_used=self.last_used(dataset_hash),
                    complete=self.is_complete(dataset_hash),
                    in_use=self.in_use_now(dataset_hash),
                )
            )
        return found

    def blob_shas(self) -> list[str]:
        if not self.blobs.is_dir():
            return []
        return sorted(p.name for d in self.blobs.iterdir() if d.is_dir() for p in d.iterdir())

    def parts(self) -> list[Path]:
        return sorted(self.tmp.glob("*.part")) if self.tmp.is_dir() else []

    def size_bytes(self) -> int:
        """Bytes the cache holds: blobs and partial downloads."""
        total = sum(self.blob_path(sha).stat().st_size for sha in self.blob_shas())
        return total + sum(part.stat().st_size for part in self.parts())

    # -- removing ----------------------------------------------------------------------
    def remove_dataset(self, held: HeldLock, dataset_hash: str) -> None:
        """Remove a dataset folder (its use lock ``held`` exclusively), marker first."""
        folder = self.dataset_dir(dataset_hash)
        (folder / COMPLETE).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        held.remove()

    def remove_blob_if_unused(self, sha: str) -> int:
        """Remove the blob when no dataset links it and nobody holds its lock; the bytes
        freed."""
        held = acquire(self.blob_lock_path(sha), blocking=False)
        if held is None:
            return 0
        blob = self.blob_path(sha)
        try:
            stat = blob.stat()
        except FileNotFoundError:
            held.remove()
            return 0
        if stat.st_nlink > 1:
            held.release()
            return 0
        blob.unlink()
        held.remove()
        return stat.st_size

    def remove_part(self, part: Path) -> int:
        """Remove a partial download nobody is adding to; the bytes freed."""
        held = acquire(self.blob_lock_path(part.name.removesuffix(".part")), blocking=False)
        if held is None:
            return 0
        with held:
            size = part.stat().st_size if part.exists() else 0
            part.unlink(missing_ok=True)
        return size

    def unmark(self, dataset_hash: str) -> None:
        """Take a dataset's ``COMPLETE`` marker away (it is rebuilt before its next use)."""
        (self.dataset_dir(dataset_hash) / COMPLETE).unlink(missing_ok=True)

    def drop_blob(self, sha: str) -> None:
        """Remove a blob (a bad one, before it is fetched again)."""
        with lock(self.blob_lock_path(sha)):
            self.blob_path(sha).unlink(missing_ok=True)


def _link(blob: Path, target: Path) -> None:
    """``target`` as a hard link to ``blob`` (replacing whatever was there)."""
    try:
        if os.path.samestat(blob.stat(), target.lstat()):
            return
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.link")
    os.link(blob, temp)
    try:
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
