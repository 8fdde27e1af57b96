"""Checks shared by the dataset readers: folders, options, image files and boxes."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from vlmhb.core.contracts import DatasetSpec
from vlmhb.core.errors import ConfigError, did_you_mean

BBox = tuple[float, float, float, float]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})


def dataset_dir(spec: DatasetSpec) -> Path:
    """The dataset folder, resolved against the working directory; it must exist. A
    storage-URI dataset is read from its local copy, which the stage's data step
    (``vlmhb.core.envs.stage_data``) put in ``path``."""
    if spec.path is None:
        raise ConfigError(
            f"dataset {spec.name!r}", f"{spec.uri} has not been synced to this node's disk"
        )
    root = spec.path.expanduser().resolve()
    if not root.exists():
        raise ConfigError(str(spec.path), f"dataset folder of {spec.name!r} not found ({root})")
    if not root.is_dir():
        raise ConfigError(str(spec.path), f"dataset path of {spec.name!r} is not a folder")
    return root


def check_options(spec: DatasetSpec, known: dict[str, type]) -> dict[str, Any]:
    """``spec.options`` after checking names and types against ``known`` (name → type)."""
    where = f"dataset {spec.name!r} options"
    for key, value in spec.options.items():
        if key not in known:
            hint = did_you_mean(key, list(known))
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                where,
                f"unknown option {key!r} for format {spec.format!r}.{suggestion} "
                f"Known options: {', '.join(sorted(known)) or 'none'}",
            )
        expected = known[key]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise ConfigError(where, f"option {key!r} must be {expected.__name__}, got {value!r}")
    return dict(spec.options)


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved, or None when it points outside ``root``."""
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(root) else None


class InsideResolver:
    """``resolve_inside(root, relative)`` for the many paths of one dataset: each folder's
    real path is found once. (Resolving walks every component with an ``lstat``: seven
    per image, half of preparing a 100,000-row dataset.) The same answers:
    ``realpath(folder/name)`` is ``realpath(folder)/name`` unless ``name`` is a link,
    which is then resolved in full."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, str] = {}

    def __call__(self, relative: str) -> Path | None:
        folder, name = os.path.split(os.path.join(self.root, relative))
        if name in ("", ".", ".."):
            return resolve_inside(self.root, relative)
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        joined = os.path.join(real, name)
        candidate = Path(os.path.realpath(joined) if os.path.islink(joined) else joined)
        return candidate if candidate.is_relative_to(self.root) else None


@dataclass(frozen=True)
class ImageCheck:
    """Result of opening an image: its size, or why it cannot be used."""

    size: tuple[int, int] | None
    error: str | None = None


class ImageChecker:
    """Opens and verifies images with Pillow, once per path."""

    def __init__(self) -> None:
        self._cache: dict[Path, ImageCheck] = {}

    def check(self, path: Path) -> ImageCheck:
        if path not in self._cache:
            self._cache[path] = _verify(path)
        return self._cache[path]


def _verify(path: Path) -> ImageCheck:
    if not path.is_file():
        return ImageCheck(None, f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            size = image.size
            image.verify()
    except Exception as exc:  # Pillow raises many kinds for broken files
        return ImageCheck(None, f"unreadable image {path.name}: {exc}")
    return ImageCheck(size)


def parse_bbox(text: str) -> BBox:
    """A box written like ``[x1, y1, x2, y2]`` (brackets or parentheses optional)."""
    inner = text.strip().strip("[]()").strip()
    parts = [part.strip() for part in inner.split(",")]
    if len(parts) != 4:
        raise ValueError(f"box must have 4 numbers [x1, y1, x2, y2], got {text!r}")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"box has a value that is not a number: {text!r}") from None
    return bbox_from_numbers(values)


def bbox_from_numbers(values: Any) -> BBox:
    """A box from a JSON-like list of 4 numbers; ValueError says what is wrong."""
    if not isinstance(values, list | tuple) or len(values) != 4:
        raise ValueError(f"box must be a list of 4 numbers [x1, y1, x2, y2], got {values!r}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError(f"box has a value that is not a number: {values!r}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"box has a value that is not finite: {values!r}")
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def bbox_problem(bbox: BBox, size: tuple[int, int] | None) -> str | None:
    """Why ``bbox`` is unusable for an image of ``size`` (None when it is fine)."""
    x1, y1, x2, y2 = bbox
    if min(bbox) < 0:
        return f"box {list(bbox)} has a negative coordinate"
    if x2 <= x1 or y2 <= y1:
        return f"box {list(bbox)} is inverted or empty (needs x2 > x1 and y2 > y1)"
    if size is not None and (x2 > size[0] or y2 > size[1]):
        return f"box {list(bbox)} lies outside the image ({size[0]}x{size[1]})"
    return None
