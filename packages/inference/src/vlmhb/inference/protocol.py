"""The OpenAI chat-completions schema the API wrapper accepts and the replies it builds."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vlmhb.inference.backends.base import Generation, GenerationRequest
from vlmhb.inference.images import ImagePolicy, read_image_url


class UnsupportedParameterError(ValueError):
    """A request parameter the wrapper cannot honour (answered with HTTP 400)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="allow")

    url: str


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ResponseFormat(BaseModel):
    """``{"type": "text" | "json_object" | "json_schema", ...}``, passed to the backend."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"]


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions`` body; unknown OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    metadata: dict[str, Any] | None = None
    n: int | None = None
    response_format: ResponseFormat | None = None

    def check_supported(self) -> None:
        """``UnsupportedParameterError`` for parameters the wrapper cannot honour."""
        if self.n is not None and self.n != 1:
            raise UnsupportedParameterError(
                "n", f"only n=1 is supported (one choice per request), got n={self.n}"
            )

    def has_images(self) -> bool:
        return any(
            isinstance(part, ImagePart)
            for message in self.messages
            if isinstance(message.content, list)
            for part in message.content
        )

    def to_generation_request(
        self, policy: ImagePolicy | None = None, decode_images: bool = True
    ) -> GenerationRequest:
        """Join system and user texts and read images under ``policy`` (``ImageError``
        on a bad one); ``messages`` keeps the OpenAI form with ``data:`` image URLs."""
        system: list[str] = []
        user: list[str] = []
        images = []
        messages: list[dict[str, Any]] = []
        for message in self.messages:
            wire = message.model_dump(exclude_none=True)
            messages.append(wire)
            prompt = message.role in ("system", "developer", "user")
            target = system if message.role in ("system", "developer") else user
            parts = message.content
            if isinstance(parts, str):
                if prompt:
                    target.append(parts)
                continue
            for part, wire_part in zip(parts or [], wire.get("content") or [], strict=True):
                if isinstance(part, TextPart):
                    if prompt:
                        target.append(part.text)
                    continue
                image = read_image_url(part.image_url.url, policy)
                wire_part["image_url"]["url"] = image.url
                if decode_images and prompt:
                    images.append(image.decode())
                else:
                    image.check()  # the header only: no pixel is decoded
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        response_format = (
            self.response_format.model_dump() if self.response_format is not None else None
        )
        return GenerationRequest(
            system="\n".join(system),
            user="\n".join(user),
            images=images,
            max_tokens=self.max_completion_tokens or self.max_tokens or 128,
            temperature=self.temperature,
            stop=stop,
            metadata=dict(self.metadata or {}),
            response_format=response_format,
            messages=messages,
        )


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    generation: Generation, model: str, timings: dict[str, float]
) -> dict[str, Any]:
    """A ``chat.completion`` object (plus the wrapper's ``vlmhb_timings``)."""
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": generation.finish_reason,
                "message": {"role": "assistant", "content": generation.text},
            }
        ],
        "usage": usage_dict(generation.prompt_tokens, generation.completion_tokens),
        "vlmhb_timings": timings,
    }


def chunk_body(
    chunk_id: str,
    model: str,
    created: int,
    delta: dict[str, str] | None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` gives the choice-less usage chunk."""
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }


def error_body(
    message: str, type_: str, code: int | str, param: str | None = None
) -> dict[str, Any]:
    """OpenAI-style error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
