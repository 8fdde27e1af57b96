"""Image degradations for synthetic documents; boxes follow geometric changes.

Each degradation takes a strength in (0, 1]: blur radius up to 2.5 px, noise sigma up to
30 grey levels, rotation up to ±4°, brightness change up to ±40 %. Rotation turns each
field box into the axis-aligned envelope of its rotated corners (it still holds the whole
value, with a little more background).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

Box = tuple[int, int, int, int]

DEGRADATIONS = ("rotate", "gray", "brightness", "blur", "noise")  # applied in this order
MAX_ANGLE = 4.0
MAX_BLUR = 2.5
MAX_NOISE = 30.0
MAX_BRIGHTNESS = 0.4


def check_degradations(names: Sequence[str]) -> list[str]:
    """``names`` in application order; ValueError for an unknown name."""
    unknown = [name for name in names if name not in DEGRADATIONS]
    if unknown:
        raise ValueError(
            f"unknown degradation(s) {', '.join(unknown)}; choose from {', '.join(DEGRADATIONS)}"
        )
    return [name for name in DEGRADATIONS if name in names]


def degrade(
    image: Image.Image,
    boxes: list[Box],
    names: Sequence[str],
    strength: float,
    rng: np.random.Generator,
) -> tuple[Image.Image, list[Box]]:
    """``image`` with the degradations ``names`` applied, and the boxes moved with it."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    for name in check_degradations(names):
        if name == "rotate":
            angle = float(rng.uniform(-1, 1)) * MAX_ANGLE * strength
            background = image.getpixel((2, 2))
            image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=background)
            boxes = [rotate_box(box, angle, image.size) for box in boxes]
        elif name == "gray":
            image = image.convert("L")
        elif name == "brightness":
            factor = 1 + float(rng.choice([-1, 1])) * MAX_BRIGHTNESS * strength
            image = ImageEnhance.Brightness(image).enhance(factor)
        elif name == "blur":
            image = image.filter(ImageFilter.GaussianBlur(MAX_BLUR * strength))
        elif name == "noise":
            pixels = np.asarray(image, dtype=np.float32)
            pixels += rng.normal(0.0, MAX_NOISE * strength, pixels.shape).astype(np.float32)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode=image.mode)
    return image, boxes


def rotate_box(box: Box, angle: float, size: tuple[int, int]) -> Box:
    """Envelope of ``box`` after ``Image.rotate(angle)`` (counter-clockwise, about the centre)."""
    cx, cy = size[0] / 2, size[1] / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    x1, y1, x2, y2 = box
    xs, ys = [], []
    for x, y in ((x1, y1), (x2, y1), (x1, y2), (x2, y2)):
        xs.append(cx + (x - cx) * cos + (y - cy) * sin)
        ys.append(cy - (x - cx) * sin + (y - cy) * cos)
    return (
        max(0, math.floor(min(xs))),
        max(0, math.floor(min(ys))),
        min(size[0], math.ceil(max(xs))),
        min(size[1], math.ceil(max(ys))),
    )
