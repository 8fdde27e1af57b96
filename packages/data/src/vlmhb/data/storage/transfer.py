"""Moving files: verified downloads that resume and retry, parallel runs, progress
counts, and the folder transfers (``push_folder``, ``pull_folder``)."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

from vlmhb.core.storage import DATASET_MANIFEST, ProgressFn, StorageError, SyncProgress
from vlmhb.data.storage.manifest import (
    Manifest,
    ManifestEntry,
    build_manifest,
    make_manifest,
    parse_manifest,
    sha256_file,
)
from vlmhb.data.storage.provider import OnBytes, StorageProvider, TransientError, key_uri
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.uri import safe_join, safe_relpath

T = TypeVar("T")


class Tally:
    """Files and bytes done of a transfer, reported to ``progress`` (thread-safe)."""

    def __init__(
        self, what: str, files_total: int, bytes_total: int, progress: ProgressFn | None
    ) -> None:
        self.what = what
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.progress = progress
        self.files_done = 0
        self.bytes_done = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def add(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.files_done += files
            self.bytes_done += nbytes
            if self.progress is not None:
                self.progress(
                    SyncProgress(
                        what=self.what,
                        files_done=self.files_done,
                        files_total=self.files_total,
                        bytes_done=self.bytes_done,
                        bytes_total=self.bytes_total,
                        elapsed_s=time.monotonic() - self.started,
                    )
                )


def run_parallel(fn: Callable[[T], None], items: Iterable[T], workers: int) -> None:
    """``fn`` on every item, ``workers`` at a time; the first failure stops the rest and
    is raised."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                future.result()


def backoff_s(settings: StorageSettings, attempt: int) -> float:
    """Seconds before try ``attempt + 1``: exponential, jittered by ±50 %."""
    return float(settings.transfer_backoff_s * 2**attempt * random.uniform(0.5, 1.5))


def download_verified(
    provider: StorageProvider,
    entry: ManifestEntry,
    part: Path,
    settings: StorageSettings,
    on_bytes: OnBytes | None = None,
) -> None:
    """Make ``part`` hold ``entry``'s object, size and sha256 checked. A partial ``part``
    (an earlier try, an interrupted sync) is resumed with a ranged GET; a broken
    transfer is retried (backoff), a wrong result started over."""
    problem = ""
    for attempt in range(settings.transfer_retries + 1):
        if attempt:
            time.sleep(backoff_s(settings, attempt - 1))
        offset = part.stat().st_size if part.exists() else 0
        if offset > entry.size:
            part.unlink()
            offset = 0
        try:
            if offset < entry.size or not part.exists():
                with part.open("ab") as out:
                    provider.download(entry.path, out, offset, on_bytes)
        except TransientError as exc:
            problem = str(exc)
            continue
        if part.stat().st_size == entry.size and sha256_file(part) == entry.sha256:
            return
        part.unlink()
        problem = "the content does not match the manifest's size and sha256"
    raise StorageError(
        f"{key_uri(provider, entry.path)}: {problem} (after {settings.transfer_retries + 1} tries)"
    )


def fetch_manifest(provider: StorageProvider) -> Manifest | None:
    """The manifest at the provider's root; None when there is none."""
    data = provider.get_bytes(DATASET_MANIFEST)
    return parse_manifest(data, key_uri(provider, DATASET_MANIFEST)) if data is not None else None


def require_manifest(provider: StorageProvider) -> Manifest:
    """The manifest at the provider's root; ``StorageError`` saying how to make one."""
    manifest = fetch_manifest(provider)
    if manifest is None:
        raise StorageError(
            f"no dataset manifest at {provider.uri} — push the dataset with "
            f"`vlmhb data push DIR {provider.uri}`"
        )
    return manifest


def push_folder(
    provider: StorageProvider,
    folder: Path,
    settings: StorageSettings,
    exclude: tuple[str, ...] = (),
    progress: ProgressFn | None = None,
    merge: bool = False,
) -> tuple[int, Manifest]:
    """Upload ``folder``'s files that are missing at the provider or differ from its
    manifest (sha256), in parallel, then the manifest: the folder's, or with ``merge``
    the remote one's entries updated by the folder's (files the folder lacks stay named:
    a run folder is filled by stages on several hosts). An unchanged manifest is not
    written again. Returns how many files were uploaded and the manifest."""
    local = build_manifest(folder, settings.transfer_workers, exclude)
    try:
        remote = fetch_manifest(provider)
    except StorageError:
        remote = None  # an unreadable remote manifest is replaced
    known = remote.by_path() if remote else {}
    manifest = make_manifest([*(known | local.by_path()).values()]) if merge else local
    present = {item.key: item.size for item in provider.list()}
    todo = [
        entry
        for entry in local.files
        if known.get(entry.path) != entry or present.get(entry.path) != entry.size
    ]
    tally = Tally(f"push {provider.uri}", len(todo), sum(e.size for e in todo), progress)

    def upload(entry: ManifestEntry) -> None:
        path = folder / entry.path
        provider.upload(entry.path, path, entry.sha256, lambda n: tally.add(nbytes=n))
        tally.add(files=1)

    run_parallel(upload, todo, settings.transfer_workers)
    if remote is None or remote.canonical() != manifest.canonical():
        provider.put_bytes(DATASET_MANIFEST, manifest.canonical())  # last: names uploaded files
    return len(todo), manifest


def pull_folder(
    provider: StorageProvider,
    folder: Path,
    settings: StorageSettings,
    progress: ProgressFn | None = None,
    overwrite: bool = False,
) -> int:
    """Download the files of the provider's manifest that ``folder`` lacks (with
    ``overwrite``: also those that differ), each to a temporary name beside its place,
    verified, then renamed. Returns how many files were downloaded."""
    manifest = fetch_manifest(provider)
    if manifest is None:
        return 0
    todo: list[tuple[ManifestEntry, Path]] = []
    for entry in manifest.files:
        target = safe_join(folder, safe_relpath(entry.path))
        if target.exists() or target.is_symlink():
            same = target.is_file() and target.stat().st_size == entry.size
            if not overwrite or (same and sha256_file(target) == entry.sha256):
                continue
        todo.append((entry, target))
    tally = Tally(f"pull {provider.uri}", len(todo), sum(e.size for e, _ in todo), progress)

    def download(item: tuple[ManifestEntry, Path]) -> None:
        entry, target = item
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.vlmhb-part")
        try:
            download_verified(provider, entry, part, settings, lambda n: tally.add(nbytes=n))
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        tally.add(files=1)

    run_parallel(download, todo, settings.transfer_workers)
    return len(todo)
