"""The OpenAI chat-completions schema the API wrapper accepts and the replies it builds."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vlmhb.inference.backends.base import Generation, GenerationRequest
from vlmhb.inference.images import decode_data_url


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
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

    def to_generation_request(self) -> GenerationRequest:
        """Join system and user texts, decode images (``ImageError`` on a bad one)."""
        system: list[str] = []
        user: list[str] = []
        images = []
        for message in self.messages:
            target = system if message.role in ("system", "developer") else user
            if message.role not in ("system", "developer", "user"):
                continue
            parts = message.content
            if isinstance(parts, str):
                target.append(parts)
                continue
            for part in parts or []:
                if isinstance(part, TextPart):
                    target.append(part.text)
                else:
                    images.append(decode_data_url(part.image_url.url))
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return GenerationRequest(
            system="\n".join(system), user="\n".join(user), images=images,
            max_tokens=self.max_completion_tokens or self.max_tokens or 128,
            temperature=self.temperature, stop=stop, metadata=dict(self.metadata or {}))


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_body(generation: Generation, model: str, timings: dict[str, float]
                    ) -> dict[str, Any]:
    """A ``chat.completion`` object (plus the wrapper's ``vlmhb_timings``)."""
    return {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": generation.finish_reason,
                     "message": {"role": "assistant", "content": generation.text}}],
        "usage": usage_dict(generation.prompt_tokens, generation.completion_tokens),
        "vlmhb_timings": timings,
    }


def chunk_body(chunk_id: str, model: str, created: int, delta: dict[str, str] | None,
               finish_reason: str | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` gives the choice-less usage chunk."""
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": choices}


def error_body(message: str, type_: str, code: int) -> dict[str, Any]:
    """OpenAI-style error object."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}
