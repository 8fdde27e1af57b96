"""``openai`` backend: any remote OpenAI-compatible chat-completions endpoint.

Spec fields: ``base_url`` (ending in ``/v1``), ``model`` (the upstream model name;
``name`` when absent), ``api_key_env`` (environment variable holding the key; the key is
never logged or shown). Params:

- ``requests_per_s``, ``burst`` (default 1): request token bucket;
- ``tokens_per_min``, ``token_burst`` (default one minute's worth): token bucket charged
  with an estimate (prompt characters / 4 + ``image_tokens`` per image + ``max_tokens``)
  and corrected with the reply's ``usage``;
- ``max_retries`` (default 5): retries of 429, 502, 503, 504 and connection errors, waiting
  ``Retry-After``/``retry-after-ms`` when given (at most ``max_retry_after_s``, default 60;
  a 429 pauses every request) else ``retry_backoff_s`` (default 0.5) doubling;
- ``timeout_s`` (default 600), ``check_on_load`` (default true: ``GET /models`` at load),
  ``extra_body`` (dict merged into every upstream request).

Requests are forwarded as sent to the wrapper (``GenerationRequest.messages``, images as
``data:`` URLs) with ``max_tokens``, ``temperature``, ``stop`` and ``response_format``.
Streamed replies are read with ``vlmhb.inference.sse`` (the load client's parser too).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import Field, SecretStr

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import BackendParams
from vlmhb.core.secrets import reveal, revealed
from vlmhb.inference.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationRequest,
    StreamEnd,
    count_words,
)
from vlmhb.inference.backends.ratelimit import RateLimiter
from vlmhb.inference.sse import aiter_sse

log = logging.getLogger("vlmhb.inference.backends.openai")
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class UpstreamError(BackendError):
    """An error reply of the upstream server, answered with its status code."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def retry_after_s(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_message(status: int, body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", errors="replace")[:300]
    return f"upstream HTTP {status}: {message}"


def fallback_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """OpenAI messages rebuilt from the joined texts and images (PNG data URLs)."""
    content: list[dict[str, Any]] = []
    for image in request.images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        content.append({"type": "image_url", "image_url": {"url": url}})
    content.append({"type": "text", "text": request.user})
    system = [{"role": "system", "content": request.system}] if request.system else []
    return [*system, {"role": "user", "content": content}]


class OpenAIParams(BackendParams):
    """The ``openai`` backend's params; ``api_key`` is a secret, masked everywhere."""

    api_key: SecretStr | None = Field(
        None, description="the key itself (prefer the spec's api_key_env)"
    )
    requests_per_s: float | None = Field(None, gt=0, description="request token bucket rate")
    burst: float = Field(1.0, gt=0, description="request token bucket size")
    tokens_per_min: float | None = Field(None, gt=0, description="token bucket rate")
    token_burst: float | None = Field(
        None, gt=0, description="token bucket size (default one minute's worth)"
    )
    image_tokens: int = Field(256, ge=0, description="token estimate per image")
    max_retries: int = Field(5, ge=0, description="retries of 429, 502-504, connection errors")
    max_retry_after_s: float = Field(60.0, ge=0, description="longest wait of a retry")
    retry_backoff_s: float = Field(0.5, ge=0, description="first backoff, doubling")
    timeout_s: float = Field(600.0, gt=0, description="per-request timeout")
    check_on_load: bool = Field(True, description="GET /models at load")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="merged into every upstream request"
    )


class OpenAIBackend(Backend):
    """Forwards chat requests to a remote OpenAI-compatible server, rate limited."""

    name = "openai"
    Params = OpenAIParams
    p: OpenAIParams
    supports_response_format = True
    decode_images = False

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        p = self.p
        self.base_url = (spec.base_url or "").rstrip("/")
        self.model = spec.model or spec.name
        self.limiter = RateLimiter(
            requests_per_s=p.requests_per_s,
            tokens_per_min=p.tokens_per_min,
            burst=p.burst,
            token_burst=p.token_burst,
        )
        self.max_retries = p.max_retries
        self.backoff_s = p.retry_backoff_s
        self.max_retry_after_s = p.max_retry_after_s
        self.timeout_s = p.timeout_s
        self.image_tokens = p.image_tokens
        self.check_on_load = p.check_on_load
        self.extra_body = dict(revealed(p.extra_body))
        self._http: httpx.AsyncClient | None = None

    def _api_key(self) -> str | None:
        env = self.spec.api_key_env
        if not env:
            given = reveal(self.p.api_key)
            return str(given) if given else None
        key = os.environ.get(env)
        if not key:
            raise BackendError(f"environment variable {env!r} (api_key_env) is not set")
        return key

    async def load(self) -> None:
        """Open the HTTP client; with ``check_on_load`` make sure the endpoint answers."""
        if not self.base_url:
            raise BackendError(f"backend {self.name}: the model spec needs base_url")
        key = self._api_key()
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(self.timeout_s)
        )
        if self.check_on_load:
            await self._check_endpoint()

    async def _check_endpoint(self) -> None:
        assert self._http is not None
        try:
            response = await self._http.get("/models")
        except httpx.HTTPError as exc:
            raise BackendError(
                f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code != 200:
            raise UpstreamError(
                _error_message(response.status_code, response.content), response.status_code
            )

    async def unload(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def body(self, request: GenerationRequest, stream: bool) -> dict[str, Any]:
        """The upstream request body."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages or fallback_messages(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }
        if request.stop:
            body["stop"] = request.stop
        if request.response_format:
            body["response_format"] = request.response_format
        if stream:
            body["stream_options"] = {"include_usage": True}
        return {**body, **self.extra_body}

    def estimate_tokens(self, request: GenerationRequest) -> int:
        """Tokens charged before sending: prompt characters / 4, images, ``max_tokens``."""
        chars = len(request.system) + len(request.user)
        images = len(request.images) or sum(
            1
            for message in request.messages
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        )
        return chars // 4 + 1 + images * self.image_tokens + request.max_tokens

    async def _send(self, body: dict[str, Any], estimate: int) -> httpx.Response:
        """POST with rate limiting and retries; the response is open for streaming and
        has status 200 (``UpstreamError`` otherwise)."""
        if self._http is None:
            raise BackendError(f"backend {self.name} is not loaded")
        for attempt in range(self.max_retries + 1):
            await self.limiter.acquire(estimate)
            last = attempt == self.max_retries
            try:
                request = self._http.build_request("POST", "/chat/completions", json=body)
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                self.limiter.settle(estimate, 0)
                if last:
                    raise BackendError(
                        f"upstream {self.base_url} unreachable: {type(exc).__name__}: {exc}"
                    ) from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            if response.status_code == 200:
                return response
            content = await response.aread()
            await response.aclose()
            self.limiter.settle(estimate, 0)
            status = response.status_code
            if status not in RETRY_STATUSES or last:
                raise UpstreamError(_error_message(status, content), status)
            wait = self._backoff(attempt, retry_after_s(response.headers))
            log.warning(
                "upstream HTTP %d, retry %d/%d in %.2f s",
                status,
                attempt + 1,
                self.max_retries,
                wait,
            )
            if status == 429:
                self.limiter.pause(wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        return float(min(self.backoff_s * 2**attempt, self.max_retry_after_s))

    async def generate(self, request: GenerationRequest) -> Generation:
        estimate = self.estimate_tokens(request)
        response = await self._send(self.body(request, stream=False), estimate)
        try:
            data = json.loads(await response.aread())
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except httpx.HTTPError as exc:
            raise BackendError(f"upstream reply broke: {type(exc).__name__}: {exc}") from exc
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BackendError(f"malformed upstream reply: {exc!r}") from exc
        finally:
            await response.aclose()
        prompt, completion = self._usage(data.get("usage"), request, text)
        self.limiter.settle(estimate, prompt + completion)
        return Generation(text, prompt, completion, choice.get("finish_reason") or "stop")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | StreamEnd]:
        estimate = self.estimate_tokens(request)
        response = await self._send(self.body(request, stream=True), estimate)
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        finish = "stop"
        try:
            async for message in aiter_sse(response.aiter_bytes()):
                if message.done:
                    break
                event = json.loads(message.data)
                if "error" in event:
                    message = (event["error"] or {}).get("message", "stream error")
                    raise BackendError(f"upstream stream error: {message}")
                usage = event.get("usage") or usage
                for choice in event.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        yield text
            else:
                raise BackendError("upstream stream ended without [DONE]")
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise BackendError(f"upstream stream broke: {type(exc).__name__}: {exc}") from exc
        finally:
            await response.aclose()
        prompt, completion = self._usage(usage, request, "".join(parts))
        self.limiter.settle(estimate, prompt + completion)
        yield StreamEnd(prompt, completion, finish)

    def _usage(
        self, usage: dict[str, Any] | None, request: GenerationRequest, text: str
    ) -> tuple[int, int]:
        if usage and "prompt_tokens" in usage and "completion_tokens" in usage:
            return int(usage["prompt_tokens"]), int(usage["completion_tokens"])
        return count_words(request.system) + count_words(request.user), count_words(text)

    def info(self) -> dict[str, Any]:
        limits = {"requests_per_s": self.p.requests_per_s, "tokens_per_min": self.p.tokens_per_min}
        return {
            **super().info(),
            "base_url": self.base_url,
            "upstream_model": self.model,
            "rate_limits": {k: v for k, v in limits.items() if v is not None},
        }
