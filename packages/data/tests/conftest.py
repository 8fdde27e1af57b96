"""Fixtures for the data package tests: the shared read-only fixtures and tiny datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    """The read-only shared fixtures folder; skips when this checkout has none."""
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED}")
    return SHARED


def _write_image(path: Path, size: tuple[int, int] = (200, 100)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (255, 255, 255)).save(path, format="JPEG")
    return path


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """``make_image(path, size=(200, 100))`` writes a small valid JPEG and returns its path."""
    return _write_image
