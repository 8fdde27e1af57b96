"""Dataset manifests: path, size and sha256 of every file of a folder; the dataset hash is
the sha256 of the manifest's canonical JSON."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vlmhb.core.storage import DATASET_MANIFEST, StorageError
from vlmhb.data.storage.uri import safe_relpath

VERSION = 1
CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Files sorted by path, every path checked by ``safe_relpath``."""

    files: tuple[ManifestEntry, ...]
    version: int = VERSION

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    def canonical(self) -> bytes:
        """The bytes the dataset hash is taken of (and the manifest file holds)."""
        files = [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.files]
        return json.dumps(
            {"version": self.version, "files": files},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    def dataset_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    def by_path(self) -> dict[str, ManifestEntry]:
        return {entry.path: entry for entry in self.files}


def make_manifest(entries: list[ManifestEntry]) -> Manifest:
    """A checked manifest: safe, unique paths; no file where another needs a folder."""
    files = tuple(sorted(entries, key=lambda entry: entry.path))
    seen: set[str] = set()
    folders: set[str] = set()
    for entry in files:
        relpath = safe_relpath(entry.path)
        if entry.path in seen:
            raise StorageError(f"manifest: path {entry.path!r} appears twice")
        if entry.path == DATASET_MANIFEST:
            raise StorageError(f"manifest: path {entry.path!r} is the manifest itself")
        if entry.size < 0 or not _SHA256.match(entry.sha256):
            raise StorageError(f"manifest: bad size or sha256 for {entry.path!r}")
        seen.add(entry.path)
        folders.update(str(parent) for parent in relpath.parents if str(parent) != ".")
    clash = seen & folders
    if clash:
        raise StorageError(f"manifest: {sorted(clash)[0]!r} is both a file and a folder")
    return Manifest(files)


def parse_manifest(data: bytes, where: str) -> Manifest:
    """The manifest in ``data`` (read from ``where``, named in errors)."""
    try:
        raw: Any = json.loads(data)
        if raw.get("version") != VERSION:
            raise StorageError(f"{where}: manifest version {raw.get('version')!r} is not 1")
        entries = [
            ManifestEntry(path=str(item["path"]), size=int(item["size"]), sha256=item["sha256"])
            for item in raw["files"]
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StorageError(f"{where}: the dataset manifest is not valid ({exc})") from None
    try:
        return make_manifest(entries)
    except StorageError as exc:
        raise StorageError(f"{where}: {exc}") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def excluded(relpath: PurePosixPath, patterns: tuple[str, ...]) -> bool:
    """Whether ``relpath`` or a folder above it matches one of ``patterns`` (fnmatch)."""
    candidates = [str(relpath), *(str(p) for p in relpath.parents if str(p) != ".")]
    return any(fnmatch.fnmatch(c, pattern) for c in candidates for pattern in patterns)


def folder_files(folder: Path, exclude: tuple[str, ...] = ()) -> Iterator[PurePosixPath]:
    """Relative paths of the regular files under ``folder`` (a symbolic link to a file
    inside it counts; linked folders are not entered), without the root's manifest and
    ``exclude``'s matches."""
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            relpath = PurePosixPath(path.relative_to(folder).as_posix())
            if str(relpath) == DATASET_MANIFEST or excluded(relpath, exclude):
                continue
            if path.is_file() and path.resolve().is_relative_to(root):
                yield safe_relpath(str(relpath))


def build_manifest(folder: Path, workers: int = 8, exclude: tuple[str, ...] = ()) -> Manifest:
    """The manifest of ``folder``'s files, hashed in parallel."""
    if not folder.is_dir():
        raise StorageError(f"{folder} is not a folder")
    paths = list(folder_files(folder, exclude))

    def entry(relpath: PurePosixPath) -> ManifestEntry:
        path = folder / relpath
        return ManifestEntry(str(relpath), path.stat().st_size, sha256_file(path))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return make_manifest(list(pool.map(entry, paths)))


def read_manifest(folder: Path) -> Manifest:
    """The manifest file at ``folder``'s root."""
    path = folder / DATASET_MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StorageError(f"no dataset manifest in {folder} ({DATASET_MANIFEST})") from None
    return parse_manifest(data, str(path))


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write ``manifest`` to ``folder``'s root (through a temporary name)."""
    path = folder / DATASET_MANIFEST
    temp = path.with_name(f".{DATASET_MANIFEST}.{os.getpid()}.tmp")
    temp.write_bytes(manifest.canonical())
    os.replace(temp, path)
    return path
