"""The official ``openai`` SDK, unchanged, against the API wrapper (scripted backend,
API key required): sync, async, streaming, model listing and error mapping."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.base import Backend
from vlmhb.inference.backends.scripted import ScriptedBackend

ServeFn = Callable[[Backend], AbstractContextManager[str]]
KEY = "sdk-test-key"


@pytest.fixture
def base_url(serve: ServeFn, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("VLMHB_API_KEY", KEY)
    backend = ScriptedBackend(
        ModelSpec(name="s", backend="scripted", model="m1", params={"ttft_ms": 2, "latency_ms": 6})
    )
    with serve(backend) as url:
        while httpx.get(url + "/health").status_code != 200:
            time.sleep(0.02)
        yield url + "/v1"


def messages(text: str) -> list[Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 8), "white").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return [
        {"role": "system", "content": "answer briefly"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": text},
            ],
        },
    ]


def test_sync_completion_stream_and_models(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    reply = client.chat.completions.create(
        model="m1", messages=messages("номер 4510 ok"), max_tokens=16, temperature=0
    )
    assert reply.choices[0].message.content == "номер 4510 ok"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    assert (reply.model_extra or {})["vlmhb_timings"]["server_latency_ms"] >= 0
    chunks = list(
        client.chat.completions.create(
            model="m1",
            messages=messages("a b c d"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "a b c d"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6 + 4
    assert [m.id for m in client.models.list()] == ["m1"]
    cut = client.chat.completions.create(
        model="m1", messages=messages("one two three"), max_tokens=2
    )
    assert cut.choices[0].message.content == "one two"
    assert cut.choices[0].finish_reason == "length"


async def test_async_completion_and_stream(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    reply = await client.chat.completions.create(model="m1", messages=messages("x y"))
    assert reply.choices[0].message.content == "x y"
    stream = await client.chat.completions.create(
        model="m1", messages=messages("p q r"), stream=True
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "p q r"
    await client.close()


def test_sdk_errors_map_to_openai_exceptions(base_url: str) -> None:
    wrong = openai.OpenAI(base_url=base_url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="only n=1 is supported"):
        client.chat.completions.create(model="m1", messages=messages("x"), n=3)
