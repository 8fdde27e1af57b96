"""The data layer's contract as the core sees it: datasets and results kept behind a URI
(``s3://bucket/prefix``) instead of a local folder.

A ``DataStore`` serves one URI scheme; stores are plugins (entry-point group
``vlmhb.storage``, name = the scheme; ``vlmhb.data.storage`` registers ``s3`` and
``file``). The core uses a store at three points and nowhere else: the planner asks for a
dataset's hash (``dataset_hash``: it joins the run id), the stage data step
(``vlmhb.core.envs.stage_data``) syncs a dataset to the node's disk before a stage runs
(``materialise``: "sync-before-run"; the stage only ever sees a local folder) and moves
run folders to and from ``results_uri`` (``push_folder``/``pull_folder``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vlmhb.core.errors import UnknownNameError

# Beside the data at the dataset's root (local folder or URI prefix): path, size and
# sha256 of every file. The dataset hash is the sha256 of its canonical form.
DATASET_MANIFEST = "vlmhb-manifest.json"

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://")


class StorageError(Exception):
    """A storage operation failed in a way the user can act on: the message names the
    URI and what to check (credentials, bucket, prefix, a refused key); it never holds a
    credential."""


def uri_scheme(value: str) -> str | None:
    """``s3`` for ``s3://bucket/prefix``; None for a plain path."""
    found = _SCHEME.match(value)
    return found.group(1) if found else None


def join_uri(base: str, *parts: str) -> str:
    """``s3://b/p`` + ``exp``, ``run`` → ``s3://b/p/exp/run`` (one slash between parts)."""
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])


@dataclass(frozen=True)
class SyncProgress:
    """How far a transfer is: files and bytes done of the total, seconds since start."""

    what: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    elapsed_s: float

    @property
    def throughput_bps(self) -> float:
        return self.bytes_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.throughput_bps
        return (self.bytes_total - self.bytes_done) / rate if rate > 0 else None


ProgressFn = Callable[[SyncProgress], None]


class DataStore(Protocol):
    """Datasets and run folders behind URIs of one scheme. Every method raises
    ``StorageError`` for what the user can fix."""

    def dataset_hash(self, uri: str) -> str:
        """The dataset's hash: sha256 (hex) of the canonical manifest at ``uri``."""
        ...

    def materialise(
        self, uri: str, progress: ProgressFn | None = None
    ) -> AbstractContextManager[Path]:
        """Sync the dataset at ``uri`` to this node's cache and give its complete local
        folder, held in use (never evicted) until the context exits. Files already
        cached (by sha256) are not downloaded again."""
        ...

    def push_folder(
        self,
        folder: Path,
        uri: str,
        exclude: tuple[str, ...] = (),
        progress: ProgressFn | None = None,
        merge: bool = False,
    ) -> int:
        """Upload the files of ``folder`` to ``uri``, only those missing there or
        different (sha256), then the manifest (``DATASET_MANIFEST``): the folder's, or
        with ``merge`` the remote manifest updated with the folder's files (what the
        folder lacks stays named: a run folder filled from several hosts). A file is
        left out when its relative path, or that of a folder above it, matches a pattern
        of ``exclude`` (``fnmatch``: ``*.lock``, ``run-a``). Returns how many files were
        uploaded; nothing at all is written when nothing changed."""
        ...

    def pull_folder(
        self,
        uri: str,
        folder: Path,
        progress: ProgressFn | None = None,
        overwrite: bool = False,
    ) -> int:
        """Make ``folder`` hold every file of the manifest at ``uri`` that it lacks,
        downloaded and verified (sha256). A local file that differs is kept (local work
        wins) unless ``overwrite`` (a mirror: the remote wins); local files not in the
        manifest stay. Returns how many files were downloaded; 0, with nothing written,
        when ``uri`` holds no manifest."""
        ...


def data_store(uri: str) -> DataStore:
    """The store of ``uri``'s scheme from the storage registry (settings from the
    ``VLMHB_*`` environment); ``StorageError`` for a plain path or an unknown scheme."""
    from vlmhb.core.registries import get_registries

    scheme = uri_scheme(uri)
    if scheme is None:
        raise StorageError(f"{uri!r} is not a storage URI (expected scheme://...)")
    try:
        factory = get_registries().storage.get(scheme)
    except UnknownNameError as exc:
        raise StorageError(f"{uri}: no data store for scheme {scheme!r} ({exc})") from exc
    store: DataStore = factory()
    return store
