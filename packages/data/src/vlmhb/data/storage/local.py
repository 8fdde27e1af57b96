"""``LocalProvider``: objects as files under a local folder (``file:///abs/path``)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vlmhb.core.storage import StorageError
from vlmhb.data.storage.manifest import CHUNK
from vlmhb.data.storage.provider import ObjectInfo, OnBytes
from vlmhb.data.storage.uri import safe_join, safe_relpath

SHA256_XATTR = "user.vlmhb.sha256"  # where the file system keeps extended attributes
TEMP_MARK = ".vlmhb-tmp-"


class LocalProvider:
    """Files under ``root``; keys are their paths relative to it. A file's sha256 is
    kept as an extended attribute where the file system supports them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def uri(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return safe_join(self.root, safe_relpath(key))

    def list(self) -> Iterator[ObjectInfo]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if TEMP_MARK not in name and path.is_file():
                    key = path.relative_to(self.root).as_posix()
                    yield ObjectInfo(key=key, size=path.stat().st_size)

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        sha256 = None
        with contextlib.suppress(OSError):
            sha256 = os.getxattr(path, SHA256_XATTR).decode()
        return ObjectInfo(key=key, size=path.stat().st_size, sha256=sha256)

    def download(
        self, key: str, out: BinaryIO, offset: int = 0, on_bytes: OnBytes | None = None
    ) -> None:
        try:
            source = self._path(key).open("rb")
        except FileNotFoundError:
            raise StorageError(f"{self.uri}/{key}: no such file") from None
        with source:
            source.seek(offset)
            while chunk := source.read(CHUNK):
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))

    def upload(self, key: str, path: Path, sha256: str, on_bytes: OnBytes | None = None) -> None:
        target = self._path(key)
        with self._writing(target) as temp:
            with path.open("rb") as source, temp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
            with contextlib.suppress(OSError):
                os.setxattr(temp, SHA256_XATTR, sha256.encode())

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        with self._writing(target) as temp:
            temp.write_bytes(data)

    @contextlib.contextmanager
    def _writing(self, target: Path) -> Iterator[Path]:
        """A temporary file beside ``target``, renamed onto it when the block succeeds."""
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f"{target.name}{TEMP_MARK}{uuid.uuid4().hex[:8]}")
        try:
            yield temp
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
