"""The ``Backend`` contract every model plugin implements.

A backend is constructed from a ``ModelSpec``, loaded once, then answers
``GenerationRequest``s (already decoded from the OpenAI request by the API wrapper).
Token counts of the built-in backends are whitespace word counts (approximate).

Optional capabilities, declared as class attributes:
- ``supports_response_format``: the backend honours ``GenerationRequest.response_format``
  (e.g. ``{"type": "json_object"}``); others ignore it and ``info()`` says so.
- ``decode_images``: when False the wrapper does not decode images into Pillow objects
  (``GenerationRequest.images`` stays empty; each image is checked from its header only);
  proxies read ``GenerationRequest.messages``, baselines never look at pixels.
A ``stream`` may end with a ``StreamEnd`` item carrying the real token usage and finish
reason; otherwise the wrapper asks ``usage()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PIL import Image
from pydantic import ValidationError

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import BackendParams, OpenParams


class BackendError(Exception):
    """A failed generation; the API wrapper answers it with ``status_code``."""

    status_code = 500


class InvalidRequestError(BackendError):
    """The request cannot be served as asked (e.g. an OCR backend given no image)."""

    status_code = 400


@dataclass
class GenerationRequest:
    """One chat request: joined system/user text, decoded images and sampling options."""

    system: str = ""
    user: str = ""
    images: list[Image.Image] = field(default_factory=list)
    max_tokens: int = 128
    temperature: float = 0.0
    stop: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: OpenAI ``response_format`` as sent (None when absent)
    response_format: dict[str, Any] | None = None
    #: the OpenAI messages as sent, every image as a ``data:`` URL (for proxying backends)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sample_id(self) -> str | None:
        value = self.metadata.get("sample_id")
        return None if value is None else str(value)


@dataclass
class Generation:
    """A finished answer with its token usage."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


@dataclass
class StreamEnd:
    """Optional last item of ``Backend.stream``: the answer's usage and finish reason."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


def count_words(text: str) -> int:
    """Approximate token count: whitespace-separated words."""
    return len(text.split())


def apply_limits(text: str, request: GenerationRequest) -> tuple[str, str]:
    """Cut ``text`` at the first stop string and at ``max_tokens`` words.

    Returns the text and the OpenAI finish reason (``stop`` or ``length``).
    """
    for stop in request.stop:
        if stop and stop in text:
            text = text[: text.index(stop)]
    words = text.split()
    if len(words) > request.max_tokens:
        return " ".join(words[: request.max_tokens]), "length"
    return text, "stop"


def split_chunks(text: str) -> list[str]:
    """Word-by-word chunks whose concatenation is ``text`` (spaces kept)."""
    chunks: list[str] = []
    start = 0
    for index in range(1, len(text)):
        if text[index - 1].isspace() and not text[index].isspace():
            chunks.append(text[start:index])
            start = index
    if text:
        chunks.append(text[start:])
    return chunks


class Backend(ABC):
    """A model behind the API wrapper.

    ``Params`` declares every param of the backend (a ``BackendParams`` subclass: types,
    defaults, descriptions, path and operator roles); ``vlmhb validate`` checks
    ``ModelSpec.params`` against it and the backend reads ``self.p``, the validated model.
    A backend that declares none gets ``OpenParams`` (nothing checked; ``self.params``)."""

    name = "backend"
    supports_response_format = False
    decode_images = True
    Params: ClassVar[type[BackendParams]] = OpenParams

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.params: dict[str, Any] = dict(spec.params)
        try:
            self.p = self.Params.model_validate(self.params)
        except ValidationError as exc:
            raise ValueError(f"backend {self.name}: bad params: {exc}") from None

    async def load(self) -> None:  # noqa: B027 - optional hook
        """Load weights/engines; called once before serving."""

    async def unload(self) -> None:  # noqa: B027 - optional hook
        """Release resources; called at shutdown."""

    @abstractmethod
    async def generate(self, request: GenerationRequest) -> Generation:
        """The whole answer for ``request``."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | StreamEnd]:
        """Answer chunks (optionally ending with a ``StreamEnd``); by default ``generate``
        output split word by word."""
        generation = await self.generate(request)
        for chunk in split_chunks(generation.text):
            yield chunk

    def usage(self, request: GenerationRequest, text: str) -> tuple[int, int]:
        """(prompt_tokens, completion_tokens) of a streamed answer (word counts here)."""
        return count_words(request.system) + count_words(request.user), count_words(text)

    def info(self) -> dict[str, Any]:
        """Description shown by ``GET /v1/models``."""
        return {
            "backend": self.name,
            "model": self.spec.model or self.spec.name,
            "response_format": "supported" if self.supports_response_format else "ignored",
        }
