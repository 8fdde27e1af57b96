"""Tesseract OCR as a model: the answer is the OCR text of the (already cropped) image.

Params: ``lang`` (default ``rus``), ``psm`` (page segmentation mode, default 6 = a block
of text; 7 = a single line), ``tesseract_cmd`` (default ``tesseract``). Each image is
recognised by a ``tesseract`` subprocess (at most one per CPU at a time); the answer is
the text of all images, stripped and whitespace-collapsed. Token counts are word counts.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
from typing import Annotated, Any

from PIL import Image
from pydantic import Field

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import OPERATOR, BackendParams
from vlmhb.inference.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationRequest,
    InvalidRequestError,
    apply_limits,
    count_words,
)


class TesseractParams(BackendParams):
    """Tesseract's params; ``tesseract_cmd`` names a program: only an operator sets it."""

    lang: str = Field(
        "rus",
        pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="language data, e.g. rus or rus+eng",
    )
    psm: int = Field(
        6, ge=0, le=13, description="page segmentation mode (6: a block of text, 7: one line)"
    )
    tesseract_cmd: Annotated[str, OPERATOR, Field(description="the tesseract program")] = (
        "tesseract"
    )


class TesseractBackend(Backend):
    """OCR engine behind the chat API; the prompt text is ignored."""

    name = "tesseract"
    Params = TesseractParams
    p: TesseractParams

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.lang = self.p.lang
        self.psm = self.p.psm
        self.command = self.p.tesseract_cmd
        self._slots = asyncio.Semaphore(os.cpu_count() or 1)
        self._env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    async def _run(self, *args: str, stdin: bytes | None = None) -> str:
        # no pipe without input: writing to the stdin of a process that has already exited
        # (``--list-langs``) raised "handler is closed" on uvloop under load
        process = await asyncio.create_subprocess_exec(
            self.command,
            *args,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env,
        )
        out, err = await process.communicate(stdin)
        if process.returncode != 0:
            detail = err.decode(errors="replace")[-500:]
            raise BackendError(
                f"tesseract {' '.join(args)} failed (exit {process.returncode}): {detail}"
            )
        return out.decode("utf-8", errors="replace")

    async def load(self) -> None:
        """Check the binary and the language data are there."""
        if shutil.which(self.command) is None:
            raise BackendError(f"tesseract binary {self.command!r} not found on PATH")
        listing = await self._run("--list-langs")
        available = set(listing.split()[1:]) if listing else set()
        missing = [lang for lang in self.lang.split("+") if lang not in available]
        if missing:
            raise BackendError(
                f"tesseract has no language data for {missing}; available: {sorted(available)}"
            )

    async def ocr(self, image: Image.Image) -> str:
        """Whitespace-collapsed OCR text of one image."""
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        async with self._slots:
            text = await self._run(
                "stdin", "stdout", "-l", self.lang, "--psm", str(self.psm), stdin=buffer.getvalue()
            )
        return " ".join(text.split())

    async def generate(self, request: GenerationRequest) -> Generation:
        if not request.images:
            raise InvalidRequestError("the tesseract backend needs an image in the request")
        texts = [await self.ocr(image) for image in request.images]
        text, finish = apply_limits(" ".join(t for t in texts if t), request)
        prompt_tokens = count_words(request.system) + count_words(request.user)
        return Generation(text, prompt_tokens, count_words(text), finish)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "lang": self.lang, "psm": self.psm}
