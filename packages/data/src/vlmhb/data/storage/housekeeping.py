"""Keeping the cache in shape: gc (LRU eviction under a size limit, never a dataset in
use), verify (rehash every blob, check every dataset folder) and repair."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from vlmhb.core.storage import StorageError
from vlmhb.data.storage.cache import Cache
from vlmhb.data.storage.manifest import ManifestEntry, sha256_file

Refetch = Callable[[str, ManifestEntry, Path], None]  # (source URI, entry, partial file)


@dataclass
class GcPlan:
    """What a gc removes: dataset folders, blobs no other dataset links, partial
    downloads; the cache's size before and the bytes that frees."""

    datasets: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    parts: list[Path] = field(default_factory=list)
    size_before: int = 0
    bytes_freed: int = 0


class _Planner:
    """Blob sizes and dataset links counted once; each eviction planned lowers them."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.sizes: dict[str, int] = {}
        self.links: dict[str, int] = {}  # dataset links to each blob
        self.inodes: dict[tuple[int, int], str] = {}
        for sha in cache.blob_shas():
            stat = cache.blob_path(sha).stat()
            self.sizes[sha], self.links[sha] = stat.st_size, stat.st_nlink - 1
            self.inodes[(stat.st_dev, stat.st_ino)] = sha
        self.parts = {part: part.stat().st_size for part in cache.parts()}
        self.plan = GcPlan(size_before=sum(self.sizes.values()) + sum(self.parts.values()))

    def evict(self, dataset_hash: str) -> None:
        self.plan.datasets.append(dataset_hash)
        for dirpath, _, filenames in os.walk(self.cache.files_dir(dataset_hash)):
            for name in filenames:
                stat = (Path(dirpath) / name).lstat()
                sha = self.inodes.get((stat.st_dev, stat.st_ino))
                if sha is not None:
                    self.links[sha] -= 1

    def drop_parts(self) -> None:
        self.plan.parts = sorted(self.parts)

    def size_left(self) -> int:
        plan = self.plan
        plan.blobs = sorted(sha for sha, count in self.links.items() if count <= 0)
        plan.bytes_freed = sum(self.sizes[sha] for sha in plan.blobs)
        plan.bytes_freed += sum(self.parts[part] for part in plan.parts)
        return plan.size_before - plan.bytes_freed


def plan_gc(cache: Cache, max_bytes: int | None) -> GcPlan:
    """Unfinished dataset folders and unlinked blobs go; then, while the cache is over
    ``max_bytes``, the least recently used datasets not in use, and partial downloads."""
    planner = _Planner(cache)
    datasets = [d for d in cache.describe() if not d.in_use]
    for dataset in datasets:
        if not dataset.complete:
            planner.evict(dataset.dataset_hash)
    if max_bytes is not None:
        for dataset in sorted((d for d in datasets if d.complete), key=lambda d: d.last_used):
            if planner.size_left() <= max_bytes:
                break
            planner.evict(dataset.dataset_hash)
        if planner.size_left() > max_bytes:
            planner.drop_parts()
    planner.size_left()
    return planner.plan


def run_gc(cache: Cache, plan: GcPlan) -> int:
    """Carry ``plan`` out, skipping what came into use meanwhile; the bytes freed."""
    for dataset_hash in plan.datasets:
        held = cache.try_evict_lock(dataset_hash)
        if held is not None:
            cache.remove_dataset(held, dataset_hash)
    freed = sum(cache.remove_blob_if_unused(sha) for sha in plan.blobs)
    return freed + sum(cache.remove_part(part) for part in plan.parts)


def shrink(cache: Cache, max_bytes: int) -> int:
    """Bring the cache under ``max_bytes`` if it is over (what a sync does after); the
    bytes freed."""
    if cache.size_bytes() <= max_bytes:
        return 0
    return run_gc(cache, plan_gc(cache, max_bytes))


@dataclass(frozen=True)
class Problem:
    """A bad blob (``dataset_hash`` None), or a dataset folder file that is not its blob."""

    sha256: str
    reason: str
    dataset_hash: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        where = f"{self.dataset_hash[:12]}/{self.path}: " if self.dataset_hash else ""
        return f"{where}blob {self.sha256[:12]}: {self.reason}"


def verify_cache(cache: Cache, workers: int) -> list[Problem]:
    """Rehash every blob (a same-size corruption is found too) and check that every
    file of a complete dataset folder is its blob."""
    shas = cache.blob_shas()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = list(pool.map(lambda sha: sha256_file(cache.blob_path(sha)), shas))
    problems = [
        Problem(sha, "content does not match its sha256")
        for sha, found in zip(shas, hashes, strict=True)
        if found != sha
    ]
    for dataset_hash in cache.dataset_hashes():
        manifest = cache.manifest(dataset_hash)
        if manifest is None or not cache.is_complete(dataset_hash):
            continue
        for entry in manifest.files:
            reason = _link_problem(cache, dataset_hash, entry)
            if reason:
                problems.append(Problem(entry.sha256, reason, dataset_hash, entry.path))
    return problems


def _link_problem(cache: Cache, dataset_hash: str, entry: ManifestEntry) -> str | None:
    try:
        target = (cache.files_dir(dataset_hash) / entry.path).lstat()
    except FileNotFoundError:
        return "missing from the dataset folder"
    try:
        blob = cache.blob_path(entry.sha256).stat()
    except FileNotFoundError:
        return "blob missing from the cache"
    return None if os.path.samestat(blob, target) else "file is not the cached blob"


def repair(cache: Cache, problems: list[Problem], refetch: Refetch) -> list[str]:
    """Fix ``problems``: bad blobs removed and fetched again from a dataset source that
    uses them, dataset files linked to their blobs again. The datasets concerned lose
    their ``COMPLETE`` marker meanwhile and get it back once all is fixed. Returns what
    could not be fixed."""
    users: dict[str, list[tuple[str, ManifestEntry]]] = {}
    for dataset_hash in cache.dataset_hashes():
        manifest = cache.manifest(dataset_hash)
        for entry in manifest.files if manifest else ():
            users.setdefault(entry.sha256, []).append((dataset_hash, entry))
    shas = sorted({problem.sha256 for problem in problems})
    concerned = {dataset_hash for sha in shas for dataset_hash, _ in users.get(sha, [])}
    complete = {h for h in concerned if cache.is_complete(h)}
    for dataset_hash in concerned:
        cache.unmark(dataset_hash)
    bad = {problem.sha256 for problem in problems if problem.dataset_hash is None}
    failures: list[str] = []
    broken: set[str] = set()
    for sha in shas:
        if sha in bad:
            cache.drop_blob(sha)
        refs = users.get(sha, [])
        if not refs:
            continue
        try:
            _refetch(cache, refs, refetch)
        except StorageError as exc:
            failures.append(f"blob {sha[:12]}: {exc}")
            broken.update(dataset_hash for dataset_hash, _ in refs)
    for dataset_hash in sorted(complete - broken):
        manifest = cache.manifest(dataset_hash)
        if manifest is not None:
            cache.finish(dataset_hash, manifest)
    return failures


def _refetch(cache: Cache, refs: list[tuple[str, ManifestEntry]], refetch: Refetch) -> None:
    """The blob of ``refs`` back in the cache (from the first source that has a URI),
    linked at each of them."""
    sources = [(cache.source(h), entry) for h, entry in refs]
    found = [(uri, entry) for uri, entry in sources if uri]
    if not found:
        raise StorageError("no dataset that uses it records where it came from")
    uri, entry = found[0]
    links = [cache.files_dir(h) / e.path for h, e in refs]
    cache.add_blob(entry, lambda part: refetch(uri, entry, part), links)
