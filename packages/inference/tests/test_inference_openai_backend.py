"""The ``openai`` backend against a stand-in OpenAI-compatible server (a FastAPI app in a
thread, standing in for a remote API that tests cannot reach): rate limits counted in
windows by the stand-in, 429 + Retry-After retries, API key from the environment, and
proxying through the API wrapper (streaming, usage, response_format, images)."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from PIL import Image

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.registry import Registry
from vlmhb.inference.backends.base import Backend, GenerationRequest
from vlmhb.inference.backends.openai_remote import OpenAIBackend, retry_after_s
from vlmhb.inference.backends.ratelimit import TokenBucket

ServeFn = Callable[[Backend], AbstractContextManager[str]]


def load_standin() -> ModuleType:
    """The stand-in module beside this file (tests are not a package)."""
    name = "vlmhb_openai_standin"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).with_name("openai_standin.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


standin = load_standin()


@pytest.fixture
def upstream() -> Iterator[tuple[str, Any]]:
    """(base URL ending in /v1, the stand-in's state)."""
    state = standin.StandinState(model="remote-vlm")
    with standin.serve_in_thread(standin.create_standin_app(state)) as url:
        yield url + "/v1", state


def backend_for(base_url: str, **params: Any) -> OpenAIBackend:
    return OpenAIBackend(
        ModelSpec(
            name="remote", backend="openai", base_url=base_url, model="remote-vlm", params=params
        )
    )


def ask(text: str, max_tokens: int = 32) -> GenerationRequest:
    return GenerationRequest(
        user=text, max_tokens=max_tokens, messages=[{"role": "user", "content": text}]
    )


def max_in_window(times: list[float], window_s: float, weights: list[int] | None = None) -> int:
    """Largest total weight of events within any ``window_s`` starting at an event."""
    events = sorted(zip(times, weights or [1] * len(times), strict=True))
    return max(sum(w for t, w in events if start <= t < start + window_s) for start, _ in events)


async def test_requests_per_s_holds_in_every_window(upstream: tuple[str, Any]) -> None:
    url, state = upstream
    backend = backend_for(url, requests_per_s=20, burst=1)
    await backend.load()
    replies = await asyncio.gather(*(backend.generate(ask(f"q{i}")) for i in range(30)))
    await backend.unload()
    assert [r.text for r in replies] == [f"q{i}" for i in range(30)]
    assert len(state.arrivals) == 30
    # bucket bound: burst + rate * window; +1 for loopback delivery jitter
    assert max_in_window(state.arrivals, 0.5) <= 1 + 20 * 0.5 + 1


async def test_tokens_per_min_holds_in_every_window(upstream: tuple[str, Any]) -> None:
    url, state = upstream
    backend = backend_for(url, tokens_per_min=12000, token_burst=32)
    await backend.load()
    text = "a b c d e f g h"  # the stand-in reports 8 prompt + 8 completion tokens
    await asyncio.gather(*(backend.generate(ask(text, max_tokens=10)) for _ in range(20)))
    await backend.unload()
    times = [t for t, _ in state.token_log]
    weights = [n for _, n in state.token_log]
    assert sum(weights) == 20 * 16
    # bucket bound: capacity + rate * window; + one request for the estimate's error
    assert max_in_window(times, 0.25, weights) <= 32 + 200 * 0.25 + 16


async def test_429_waits_for_retry_after_and_retries(upstream: tuple[str, Any]) -> None:
    url, state = upstream
    state.throttle_every, state.retry_after_s = 3, 0.15
    backend = backend_for(url, max_retries=3)
    await backend.load()
    replies = await asyncio.gather(*(backend.generate(ask(f"p{i}")) for i in range(9)))
    stream = [item async for item in backend.stream(ask("s1 s2"))]
    await backend.unload()
    assert [r.text for r in replies] == [f"p{i}" for i in range(9)]
    assert state.throttled == 3 and state.early == 0
    assert len(state.arrivals) == 9 + 3 + 1
    assert "".join(i for i in stream if isinstance(i, str)) == "s1 s2"


async def test_429_after_the_last_retry_is_an_error(upstream: tuple[str, Any]) -> None:
    url, state = upstream
    state.throttle_every, state.retry_after_s = 1, 30.0
    backend = backend_for(url, max_retries=1, max_retry_after_s=0.01)
    await backend.load()
    with pytest.raises(Exception, match="upstream HTTP 429: rate limited") as caught:
        await backend.generate(ask("never"))
    await backend.unload()
    assert getattr(caught.value, "status_code", None) == 429
    assert state.throttled == 1 and state.early == 1


async def test_api_key_comes_from_the_named_env_var(
    upstream: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = upstream
    state.api_key = "remote-secret"
    spec = dict(
        name="remote", backend="openai", base_url=url, model="remote-vlm", api_key_env="REMOTE_KEY"
    )
    missing = OpenAIBackend(ModelSpec(**spec))
    with pytest.raises(Exception, match="'REMOTE_KEY'"):
        await missing.load()
    monkeypatch.setenv("REMOTE_KEY", "wrong")
    with pytest.raises(Exception, match="upstream HTTP 401"):
        await OpenAIBackend(ModelSpec(**spec)).load()
    monkeypatch.setenv("REMOTE_KEY", "remote-secret")
    backend = OpenAIBackend(ModelSpec(**spec))
    await backend.load()
    assert (await backend.generate(ask("hi"))).text == "hi"
    assert "remote-secret" not in json.dumps(backend.info())
    await backend.unload()


def test_wrapper_proxies_stream_usage_images_and_response_format(
    upstream: tuple[str, Any], serve: ServeFn
) -> None:
    url, state = upstream
    backend = Registry[type[Backend]]("model").get("openai")(
        ModelSpec(name="remote", backend="openai", base_url=url, model="remote-vlm")
    )
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    body = {
        "model": "remote-vlm",
        "max_tokens": 5,
        "stop": ["###"],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image}},
                    {"type": "text", "text": "one two three"},
                ],
            }
        ],
    }
    with serve(backend) as wrapper, httpx.Client(base_url=wrapper) as http:
        while http.get("/health").status_code != 200:
            time.sleep(0.02)
        plain = http.post("/v1/chat/completions", json=body).json()
        assert plain["choices"][0]["message"]["content"] == "one two three"
        assert plain["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
        streamed = http.post(
            "/v1/chat/completions",
            json={**body, "stream": True, "stream_options": {"include_usage": True}},
        ).text
        events = [
            json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")
        ]
        assert (
            "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
            == "one two three"
        )
        assert events[-1]["usage"]["completion_tokens"] == 3
        as_json = http.post(
            "/v1/chat/completions", json={**body, "response_format": {"type": "json_object"}}
        ).json()
        assert json.loads(as_json["choices"][0]["message"]["content"]) == {"echo": "one two three"}
    sent = state.bodies[0]
    assert sent["model"] == "remote-vlm" and sent["max_tokens"] == 5
    assert sent["stop"] == ["###"]
    assert sent["messages"][0]["content"][0]["image_url"]["url"] == image
    assert state.bodies[1]["stream_options"] == {"include_usage": True}
    assert state.bodies[2]["response_format"] == {"type": "json_object"}


def test_retry_after_forms_and_bucket_accounting() -> None:
    assert retry_after_s(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert retry_after_s(httpx.Headers({"retry-after": "2"})) == 2.0
    date = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_s(date) == 0.0
    assert retry_after_s(httpx.Headers({})) is None
    bucket = TokenBucket(rate_per_s=1.0, capacity=10)
    asyncio.run(bucket.take(4))
    bucket.give_back(-20)
    assert bucket.level < 0
    bucket.give_back(100)
    assert bucket.level == 10


def test_rate_limited_remote_model_is_reached_through_the_wrapper(
    upstream: tuple[str, Any], tmp_path: Path
) -> None:
    """With client-side limits the inference stage's endpoint is a local wrapper whose
    ``openai`` backend holds the buckets; without them it is the remote URL itself."""
    from vlmhb.inference.launcher import model_endpoint

    url, state = upstream
    direct = ModelSpec(name="remote", backend="openai", base_url=url, model="remote-vlm")
    with model_endpoint(direct, tmp_path) as endpoint:
        assert endpoint.base_url == url
    limited = direct.model_copy(update={"params": {"requests_per_s": 50}})
    with model_endpoint(limited, tmp_path) as endpoint:
        assert endpoint.base_url != url and endpoint.base_url.startswith("http://127.0.0.1:")
        reply = httpx.post(
            endpoint.base_url + "/chat/completions",
            timeout=30,
            json={
                "model": endpoint.model,
                "messages": [{"role": "user", "content": "через обёртку"}],
            },
        )
    assert reply.status_code == 200
    assert "через обёртку" in reply.json()["choices"][0]["message"]["content"]
    assert len(state.arrivals) == 1
