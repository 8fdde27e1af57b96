"""The core's ``DataStore`` (``vlmhb.core.storage``) for ``s3://`` and ``file://`` URIs:
one implementation over a ``StorageProvider``, the scheme only choosing the provider."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vlmhb.core.errors import settings_problems
from vlmhb.core.storage import ProgressFn, StorageError, uri_scheme
from vlmhb.data.storage.cache import Cache
from vlmhb.data.storage.local import LocalProvider
from vlmhb.data.storage.manifest import ManifestEntry
from vlmhb.data.storage.provider import StorageProvider
from vlmhb.data.storage.s3 import S3Provider, make_s3_client
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.sync import SmartSync
from vlmhb.data.storage.transfer import (
    download_verified,
    pull_folder,
    push_folder,
    require_manifest,
)
from vlmhb.data.storage.uri import parse_file_uri, parse_s3_uri


@contextmanager
def storage_errors(uri: str) -> Iterator[None]:
    """OS errors (disk full, permissions) as ``StorageError``s naming ``uri``."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{uri}: {exc}") from None


class ProviderStore:
    """A ``DataStore`` over the providers ``provider(uri)`` makes; settings from the
    ``VLMHB_*`` environment unless given."""

    scheme = ""

    def __init__(self, settings: StorageSettings | None = None) -> None:
        try:
            self.settings = settings or StorageSettings()
        except ValidationError as exc:
            raise StorageError(f"bad storage setting: {settings_problems(exc)}") from None
        self.cache = Cache(self.settings.data_cache_dir)

    def provider(self, uri: str) -> StorageProvider:
        raise NotImplementedError

    def dataset_hash(self, uri: str) -> str:
        with storage_errors(uri):
            return require_manifest(self.provider(uri)).dataset_hash()

    @contextmanager
    def _materialise(self, uri: str, progress: ProgressFn | None) -> Iterator[Path]:
        sync = SmartSync(self.cache, self.settings)
        held = ExitStack()
        with storage_errors(uri):  # the sync's errors; not those of the caller's block
            folder = held.enter_context(sync.materialise(self.provider(uri), progress))
        with held:
            yield folder

    def materialise(
        self, uri: str, progress: ProgressFn | None = None
    ) -> AbstractContextManager[Path]:
        return self._materialise(uri, progress)

    def push_folder(
        self,
        folder: Path,
        uri: str,
        exclude: tuple[str, ...] = (),
        progress: ProgressFn | None = None,
        merge: bool = False,
    ) -> int:
        with storage_errors(uri):
            provider = self.provider(uri)
            count, _ = push_folder(provider, folder, self.settings, exclude, progress, merge)
        return count

    def pull_folder(
        self,
        uri: str,
        folder: Path,
        progress: ProgressFn | None = None,
        overwrite: bool = False,
    ) -> int:
        with storage_errors(uri):
            return pull_folder(self.provider(uri), folder, self.settings, progress, overwrite)

    def refetch(self, uri: str, entry: ManifestEntry, part: Path) -> None:
        """Download ``entry`` of the dataset at ``uri`` into ``part``, verified (repair)."""
        store = self if uri_scheme(uri) == self.scheme else store_for(uri, self.settings)
        download_verified(store.provider(uri), entry, part, self.settings)


class S3DataStore(ProviderStore):
    """``s3://bucket/prefix`` through one boto3 client shared by all threads."""

    scheme = "s3"

    def __init__(self, settings: StorageSettings | None = None) -> None:
        super().__init__(settings)
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = make_s3_client(self.settings)
            return self._client

    def provider(self, uri: str) -> StorageProvider:
        return S3Provider(parse_s3_uri(uri), self.client())


class FileDataStore(ProviderStore):
    """``file:///abs/path``: a local folder as the source of truth."""

    scheme = "file"

    def provider(self, uri: str) -> StorageProvider:
        return LocalProvider(parse_file_uri(uri))


STORES: dict[str, type[ProviderStore]] = {"s3": S3DataStore, "file": FileDataStore}


def store_for(uri: str, settings: StorageSettings | None = None) -> ProviderStore:
    """The store of ``uri``'s scheme."""
    scheme = uri_scheme(uri)
    if scheme not in STORES:
        raise StorageError(f"{uri!r}: not a storage URI (s3://bucket/prefix or file:///path)")
    return STORES[scheme](settings)
