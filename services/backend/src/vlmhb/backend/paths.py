"""Resolve user-given paths inside a root: no ``..``, no absolute paths, no symlinks out."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class OutsideRoot(ValueError):
    """The path would leave its root (or is not a plain relative path)."""


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative`` resolved (symlinks followed) and checked to stay in ``root``."""
    if not relative or "\0" in relative or "\\" in relative:
        raise OutsideRoot(relative)
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise OutsideRoot(relative)
    root = root.resolve()
    target = (root / pure).resolve()
    if not target.is_relative_to(root):
        raise OutsideRoot(relative)
    return target


def is_inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (symlinks followed) lies inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())
