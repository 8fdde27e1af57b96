"""Tesseract OCR behind the real HTTP server, reached through the client."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFont

from vlmhb.core.contracts import GenerationParams, ModelSpec, PreparedSample
from vlmhb.inference.backends.base import Backend, BackendError
from vlmhb.inference.backends.tesseract import TesseractBackend
from vlmhb.inference.client import InferenceClient

ServeFn = Callable[[Backend], AbstractContextManager[str]]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render_page(path: Path) -> tuple[int, int, int, int]:
    """A page with 'ПАСПОРТ' and a distracting word; returns the box of 'ПАСПОРТ'."""
    image = Image.new("RGB", (700, 260), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 40)
    draw.text((40, 40), "ПАСПОРТ", font=font, fill="black")
    draw.text((40, 160), "ФАМИЛИЯ", font=font, fill="black")
    x1, y1, x2, y2 = draw.textbbox((40, 40), "ПАСПОРТ", font=font)
    image.save(path)
    return int(x1) - 15, int(y1) - 15, int(x2) + 15, int(y2) + 15


async def test_tesseract_reads_a_cyrillic_word_through_the_api(
    serve: ServeFn, tmp_path: Path
) -> None:
    page = tmp_path / "page.png"
    box = render_page(page)
    spec = ModelSpec(name="ocr", backend="tesseract", params={"lang": "rus", "psm": 7})
    sample = PreparedSample(id="p1", image_path=page, user_prompt="Тип документа?", crop_box=box)
    with serve(TesseractBackend(spec)) as url:
        async with httpx.AsyncClient() as http:
            while (await http.get(url + "/health")).status_code != 200:
                pass
            no_image = await http.post(
                url + "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "no image"}]},
            )
        async with InferenceClient(
            url + "/v1", "ocr", GenerationParams(), backoff_s=0.01
        ) as client:
            result = await client.infer(sample)
    assert result.error == "" and result.model_answer == "ПАСПОРТ"
    assert result.completion_tokens == 1 and result.prompt_tokens == 2
    assert no_image.status_code == 400 and "needs an image" in no_image.text


async def test_full_page_mode_collapses_whitespace(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    render_page(page)
    backend = TesseractBackend(ModelSpec(name="ocr", backend="tesseract"))
    await backend.load()
    with Image.open(page) as image:
        assert await backend.ocr(image) == "ПАСПОРТ ФАМИЛИЯ"


async def test_missing_language_data_fails_the_load() -> None:
    backend = TesseractBackend(
        ModelSpec(name="ocr", backend="tesseract", params={"lang": "rus+xyz"})
    )
    try:
        await backend.load()
    except BackendError as exc:
        assert "['xyz']" in str(exc)
    else:
        raise AssertionError("load accepted a language without data")
