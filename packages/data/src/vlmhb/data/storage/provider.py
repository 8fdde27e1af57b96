"""The ``StorageProvider`` contract: objects under one root (an S3 prefix, a local
folder), addressed by keys relative to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

OnBytes = Callable[[int], None]


@dataclass(frozen=True)
class ObjectInfo:
    """An object: key relative to the root, size; ``etag`` a hint only (multipart ETags
    are not MD5); ``sha256`` from the object's metadata (``head`` only; None if unset)."""

    key: str
    size: int
    etag: str | None = None
    sha256: str | None = None


class TransientError(Exception):
    """A transfer broke off in a way trying again may fix (connection reset, timeout,
    a body cut short)."""


class StorageProvider(Protocol):
    """Objects under a root; every method raises ``StorageError`` for what the user can
    fix (credentials, bucket, missing objects), ``TransientError`` for a broken transfer."""

    @property
    def uri(self) -> str:
        """The root's URI (no credentials)."""
        ...

    def list(self) -> Iterator[ObjectInfo]:
        """Every object under the root."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object at ``key`` (with its ``sha256`` metadata); None when absent."""
        ...

    def download(
        self, key: str, out: BinaryIO, offset: int = 0, on_bytes: OnBytes | None = None
    ) -> None:
        """Append the object's bytes from ``offset`` on to ``out`` (a file opened for
        appending that holds the first ``offset`` bytes): a ranged GET; when the server
        sends the whole object instead, ``out`` is emptied first."""
        ...

    def upload(self, key: str, path: Path, sha256: str, on_bytes: OnBytes | None = None) -> None:
        """Store the file at ``path`` as ``key``, its ``sha256`` kept as object metadata."""
        ...

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's content (a manifest); None when absent."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object."""
        ...


def key_uri(provider: StorageProvider, key: str) -> str:
    """The URI of ``key`` under ``provider``'s root, for messages."""
    return f"{provider.uri.rstrip('/')}/{key}"
