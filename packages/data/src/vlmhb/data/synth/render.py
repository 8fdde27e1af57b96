"""Drawing a labelled form with Pillow and recording each value's pixel box."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from vlmhb.data.synth.fonts import load_font
from vlmhb.data.synth.values import Fields

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]

WIDTH = 1000
MARGIN = 40
HEADER = 150
ROW = 66
FOOTER = 110
VALUE_SIZE = 36
MIN_VALUE_SIZE = 28
LABEL_SIZE = 20
BOX_PAD = 4
INK: RGB = (20, 20, 35)
LABEL_INK: RGB = (90, 90, 100)


@dataclass(frozen=True)
class Style:
    """Look of one document kind."""

    title: tuple[str, ...]
    background: RGB
    accent: RGB
    value_x: int
    photo: bool = False


STYLES: dict[str, Style] = {
    "passport": Style(
        ("РОССИЙСКАЯ ФЕДЕРАЦИЯ", "ПАСПОРТ ГРАЖДАНИНА"),
        (247, 238, 230),
        (150, 45, 45),
        value_x=300,
        photo=True,
    ),
    "invoice": Style(("СЧЁТ-ФАКТУРА",), (255, 255, 255), (40, 40, 40), value_x=320),
    "snils": Style(
        ("СТРАХОВОЕ СВИДЕТЕЛЬСТВО", "ОБЯЗАТЕЛЬНОГО ПЕНСИОННОГО СТРАХОВАНИЯ"),
        (226, 242, 224),
        (40, 110, 60),
        value_x=300,
    ),
}


@dataclass(frozen=True)
class FieldBox:
    """A field's ground truth and the padded pixel box of its value."""

    name: str
    value: str
    bbox: Box


def render(kind: str, fields: Fields, rng: random.Random) -> tuple[Image.Image, list[FieldBox]]:
    """The document image of ``kind`` showing ``fields`` and the box of every value."""
    style = STYLES[kind]
    height = HEADER + ROW * len(fields) + FOOTER
    image = Image.new("RGB", (WIDTH, height), style.background)
    draw = ImageDraw.Draw(image)
    _frame(draw, style, height)
    value_x = style.value_x + rng.randint(-8, 8)
    boxes = []
    for row, (name, value) in enumerate(fields):
        baseline = HEADER + ROW * row + 46 + rng.randint(-3, 3)
        draw.text(
            (MARGIN, baseline), f"{name}:", font=load_font(LABEL_SIZE), fill=LABEL_INK, anchor="ls"
        )
        font = _fitting_font(draw, value, WIDTH - MARGIN - value_x)
        draw.text((value_x, baseline), value, font=font, fill=INK, anchor="ls")
        x1, y1, x2, y2 = (
            int(v) for v in draw.textbbox((value_x, baseline), value, font=font, anchor="ls")
        )
        boxes.append(
            FieldBox(
                name,
                value,
                (
                    max(0, x1 - BOX_PAD),
                    max(0, y1 - BOX_PAD),
                    min(WIDTH, x2 + BOX_PAD),
                    min(height, y2 + BOX_PAD),
                ),
            )
        )
    _footer(draw, style, height)
    return image, boxes


def _fitting_font(draw: ImageDraw.ImageDraw, text: str, width: int) -> ImageFont.FreeTypeFont:
    """The largest value font (down to ``MIN_VALUE_SIZE``) that fits ``text`` in ``width``."""
    for size in range(VALUE_SIZE, MIN_VALUE_SIZE - 1, -2):
        font = load_font(size)
        if draw.textlength(text, font=font) <= width:
            return font
    raise ValueError(f"value {text!r} does not fit in {width}px at {MIN_VALUE_SIZE}px")


def _frame(draw: ImageDraw.ImageDraw, style: Style, height: int) -> None:
    draw.rectangle((10, 10, WIDTH - 11, height - 11), outline=style.accent, width=3)
    title_x = WIDTH // 2 + (70 if style.photo else 0)
    for index, line in enumerate(style.title):
        draw.text(
            (title_x, 50 + 38 * index),
            line,
            font=load_font(26, bold=True),
            fill=style.accent,
            anchor="mm",
        )
    draw.line((MARGIN, HEADER - 14, WIDTH - MARGIN, HEADER - 14), fill=style.accent, width=2)
    if style.photo:
        draw.rectangle((MARGIN, 22, MARGIN + 90, HEADER - 26), outline=style.accent, width=2)
        draw.text(
            (MARGIN + 45, (HEADER - 4) // 2),
            "ФОТО",
            font=load_font(16),
            fill=style.accent,
            anchor="mm",
        )


def _footer(draw: ImageDraw.ImageDraw, style: Style, height: int) -> None:
    y = height - FOOTER + 60
    draw.line((MARGIN, y, MARGIN + 260, y), fill=style.accent, width=1)
    draw.text((MARGIN, y + 8), "подпись", font=load_font(16), fill=LABEL_INK, anchor="lt")
    draw.ellipse((WIDTH - 200, y - 50, WIDTH - 80, y + 30), outline=style.accent, width=2)
    draw.text((WIDTH - 140, y - 10), "М.П.", font=load_font(18), fill=style.accent, anchor="mm")
