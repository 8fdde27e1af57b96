"""The uv workspace an image's wheels and pins come from: its members, their source hashes,
the lock file and the version."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vlmhb.containers.images.errors import ImageBuildError

# Never part of a wheel: tests, caches, build outputs, hidden folders.
_SKIPPED_DIRS = {"tests", "__pycache__", "node_modules", "dist", "build"}


@dataclass(frozen=True)
class Member:
    """A workspace package: distribution name and folder."""

    dist: str
    path: Path

    @property
    def wheel_name(self) -> str:
        """The wheel file name's first part (``vlmhb-core`` → ``vlmhb_core``)."""
        return re.sub(r"[-_.]+", "_", self.dist).lower()


@dataclass(frozen=True)
class Workspace:
    """A uv workspace rooted at ``root`` (the folder whose pyproject.toml has
    ``[tool.uv.workspace]``)."""

    root: Path

    @classmethod
    def find(cls, start: Path) -> Workspace:
        """The workspace holding ``start`` (searching upwards)."""
        for folder in (start.resolve(), *start.resolve().parents):
            pyproject = folder / "pyproject.toml"
            if pyproject.is_file() and "workspace" in _read_toml(pyproject).get("tool", {}).get(
                "uv", {}
            ):
                return cls(folder)
        raise ImageBuildError(
            f"no uv workspace (pyproject.toml with [tool.uv.workspace]) above {start}"
        )

    @cached_property
    def members(self) -> dict[str, Member]:
        """Members by distribution name (``[tool.uv.workspace] members``, ``exclude``)."""
        config = _read_toml(self.root / "pyproject.toml")["tool"]["uv"]["workspace"]
        excluded = {
            p.resolve() for pattern in config.get("exclude", []) for p in self.root.glob(pattern)
        }
        found: dict[str, Member] = {}
        for pattern in config.get("members", []):
            for folder in sorted(self.root.glob(pattern)):
                pyproject = folder / "pyproject.toml"
                if folder.resolve() in excluded or not pyproject.is_file():
                    continue
                dist = _read_toml(pyproject)["project"]["name"]
                found[dist] = Member(dist, folder)
        return found

    @property
    def lock(self) -> Path:
        return self.root / "uv.lock"

    @property
    def version(self) -> str:
        """The ``VERSION`` file (every package's version), or ``""`` when there is none."""
        path = self.root / "VERSION"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""

    def wheel_file(self, member: Member) -> str:
        """The file name ``uv build`` gives the member's wheel (pure-Python wheels)."""
        return f"{member.wheel_name}-{self.version}-py3-none-any.whl"

    def source_hash(self, member: Member) -> str:
        """sha256 of what the member's wheel is built from: its pyproject.toml, its sources
        (``src/`` when present, else the folder; tests and caches left out) and VERSION."""
        source = member.path / "src"
        files = [member.path / "pyproject.toml", self.root / "VERSION"]
        files += _tree_files(source if source.is_dir() else member.path)
        return hash_files(files, relative_to=self.root)


def hash_files(files: Iterable[Path], relative_to: Path) -> str:
    """sha256 over the files' paths (relative to ``relative_to``) and contents, sorted."""
    digest = hashlib.sha256()
    for path in sorted(set(files)):
        if not path.is_file():
            continue
        digest.update(str(path.relative_to(relative_to)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _tree_files(folder: Path) -> list[Path]:
    files: list[Path] = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(p in _SKIPPED_DIRS or p.startswith(".") for p in parts[:-1]):
            continue
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".pyc":
            files.append(path)
    return files


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)
