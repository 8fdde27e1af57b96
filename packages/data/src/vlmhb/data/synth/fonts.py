"""Finding a TrueType font with Cyrillic glyphs (DejaVu Sans by default)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from vlmhb.core.errors import ConfigError

FONT_ENV = "VLMHB_FONT_DIR"
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"


def find_font(name: str = REGULAR) -> Path:
    """Path of font file ``name``: in ``$VLMHB_FONT_DIR`` first, then the usual system folders."""
    folders = [Path(os.environ[FONT_ENV])] if os.environ.get(FONT_ENV) else []
    folders += FONT_DIRS
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(
        "fonts",
        f"font {name} not found in {', '.join(str(f) for f in folders)}; install it "
        f"(Debian/Ubuntu: apt-get install fonts-dejavu-core) or set {FONT_ENV} to its folder",
    )


@lru_cache(maxsize=64)
def load_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (bold or regular) at ``size`` pixels, cached."""
    return ImageFont.truetype(str(find_font(BOLD if bold else REGULAR)), size)
