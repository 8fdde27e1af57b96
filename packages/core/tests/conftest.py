"""Shared helpers for core tests: small real datasets and experiment files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ANNOTATION_HEADER = (
    "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox"
)


def write_vqa_dataset(
    root: Path,
    rows: list[tuple[str, str, str, str]],
    bom: bool = False,
    size: tuple[int, int] = (200, 100),
) -> Path:
    """A VQA dataset: rows are (question, answer, doc_class, question_type); one image each."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = [ANNOTATION_HEADER]
    for index, (question, answer, doc_class, qtype) in enumerate(rows):
        image = Image.new("RGB", size, "white")
        ImageDraw.Draw(image).text((10, 40), answer, fill="black")
        image.save(root / "images" / f"{index}.png")
        lines.append(
            f"{index};test;images/{index}.png;{question};{answer};{doc_class};{qtype};"
            "[5, 5, 150, 90]"
        )
    text = "\n".join(lines) + "\n"
    (root / "annotation.csv").write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return root


@pytest.fixture
def vqa_dataset(tmp_path: Path) -> Path:
    rows = [
        ("Напиши Фамилия", "ИВАНОВ", "passport", "Фамилия"),
        ("Напиши Имя", "ПЁТР", "passport", "Имя"),
        ("Напиши Номер", "123-456-789 00", "snils", "Номер"),
        ("Напиши Итого", "1500.00", "invoice", "Итого"),
    ]
    return write_vqa_dataset(tmp_path / "data" / "mini", rows)
