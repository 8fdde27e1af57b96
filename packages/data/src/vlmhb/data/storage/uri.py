"""Storage URIs (``s3://bucket/prefix``, ``file:///abs/path``) and the one check every
relative path from a manifest or a listing passes before anything is written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from vlmhb.core.storage import StorageError


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: prefix without leading or trailing slash ('' at the root)."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_s3_uri(uri: str) -> S3Location:
    """``s3://bucket/a/b/`` → bucket ``bucket``, prefix ``a/b``."""
    if not uri.startswith("s3://"):
        raise StorageError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} names no bucket (expected s3://bucket/prefix)")
    prefix = prefix.strip("/")
    if prefix:
        safe_relpath(prefix)
    return S3Location(bucket, prefix)


def parse_file_uri(uri: str) -> Path:
    """``file:///abs/path`` → ``/abs/path`` (only local, absolute paths)."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise StorageError(f"{uri!r} is not a file:// URI")
    if parts.netloc not in ("", "localhost"):
        raise StorageError(f"{uri!r}: only local file URIs (file:///abs/path) are supported")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise StorageError(f"{uri!r}: the path must be absolute (file:///abs/path)")
    return Path(os.path.normpath(path))


def safe_relpath(value: str) -> PurePosixPath:
    """``value`` as a relative path that stays inside whatever folder it is joined to;
    ``StorageError`` for an absolute path, ``..``, ``.``, an empty segment, a backslash
    or a NUL."""
    problem = None
    if not value:
        problem = "is empty"
    elif "\x00" in value:
        problem = "holds a NUL byte"
    elif "\\" in value:
        problem = "holds a backslash"
    elif value.startswith("/"):
        problem = "is absolute"
    else:
        segments = value.split("/")
        if any(segment in ("", ".", "..") for segment in segments):
            problem = "has an empty, '.' or '..' segment"
    if problem:
        raise StorageError(f"refused path {value!r}: it {problem} (it could leave its folder)")
    return PurePosixPath(value)


def safe_join(root: Path, relpath: PurePosixPath) -> Path:
    """``root / relpath``, refused (``StorageError``) when a symbolic link on the way
    would take it outside ``root``."""
    target = root / relpath
    base = root.resolve()
    if not target.parent.resolve().is_relative_to(base) or (
        target.is_symlink() and not target.resolve().is_relative_to(base)
    ):
        raise StorageError(f"refused path {str(relpath)!r}: it leads outside {root}")
    return target
