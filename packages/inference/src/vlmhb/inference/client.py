"""Async benchmark client for OpenAI-compatible chat servers.

``InferenceClient.infer(sample)`` sends one ``PreparedSample`` (at most ``concurrency``
at a time, one keep-alive connection per slot), streams the reply and measures, like
vLLM's ``bench serve``: ``ttft_ms`` (to the first non-empty content chunk),
``latency_ms`` (request start to the end of the reply),
``tpot_ms = (latency - ttft) / (completion_tokens - 1)`` and token counts from the
server's ``usage``. Timings are those of the final attempt; ``queue_ms``
(waiting for a concurrency slot) and ``attempts`` are kept separately. Transient failures
(connection errors, timeouts, 429, 5xx) are retried with exponential backoff up to
``GenerationParams.retries`` times; a sample that keeps failing gives a result with
``error`` set, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from vlmhb.core.contracts import GenerationParams, PreparedSample
from vlmhb.inference.images import ImageError, encode_image


@dataclass
class RequestResult:
    """Outcome and timings of one sample."""

    id: str
    model_answer: str = ""
    error: str = ""
    ttft_ms: float | None = None
    latency_ms: float | None = None
    tpot_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 0
    queue_ms: float = 0.0


class RequestFailed(Exception):
    """One failed attempt; ``transient`` ones are retried."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def tpot(latency_ms: float, ttft_ms: float | None, completion_tokens: int | None
         ) -> float | None:
    """Time per output token after the first; None with fewer than 2 tokens."""
    if ttft_ms is None or completion_tokens is None or completion_tokens <= 1:
        return None
    return (latency_ms - ttft_ms) / (completion_tokens - 1)


def build_messages(sample: PreparedSample) -> list[dict[str, Any]]:
    """OpenAI messages for ``sample``: optional system prompt, user text and image (its
    ``image_path`` is used as given, as ``vlmhb.core.prepare`` does)."""
    content: list[dict[str, Any]] = []
    if sample.image_path is not None:
        content.append({"type": "image_url", "image_url": {
            "url": encode_image(sample.image_path, sample.crop_box)}})
    content.append({"type": "text", "text": sample.user_prompt or sample.question})
    messages: list[dict[str, Any]] = []
    if sample.system_prompt:
        messages.append({"role": "system", "content": sample.system_prompt})
    messages.append({"role": "user", "content": content})
    return messages


def _status_failure(response: httpx.Response, body: bytes) -> RequestFailed:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", errors="replace")[:300]
    transient = response.status_code == 429 or response.status_code >= 500
    return RequestFailed(f"HTTP {response.status_code}: {message}", transient)


class InferenceClient:
    """Sends samples to ``base_url`` (ending in ``/v1``) with bounded concurrency."""

    def __init__(self, base_url: str, model: str, generation: GenerationParams,
                 concurrency: int = 4, api_key: str | None = None,
                 backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.generation = generation
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # One single-connection httpx client per concurrency slot: httpcore's shared pool
        # costs O(connections) socket checks per request, which dominated at 32+ slots.
        tls = httpx.create_ssl_context()
        self._clients = [httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(generation.timeout_s), verify=tls,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
            for _ in range(concurrency)]
        self._slots: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for http in self._clients:
            self._slots.put_nowait(http)

    async def __aenter__(self) -> InferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for http in self._clients:
            await http.aclose()

    def payload(self, sample: PreparedSample) -> dict[str, Any]:
        """The request body for ``sample`` (``ImageError`` if its image is unusable)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(sample),
            "max_tokens": self.generation.max_tokens,
            "temperature": self.generation.temperature,
            "stream": self.generation.stream,
            "metadata": {"sample_id": sample.id},
        }
        if self.generation.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def infer(self, sample: PreparedSample) -> RequestResult:
        """Run one sample to a result (answer or error) with retries."""
        queued = time.perf_counter()
        http = await self._slots.get()
        try:
            result = RequestResult(id=sample.id, queue_ms=_ms(time.perf_counter() - queued))
            try:
                # image decoding/encoding is CPU work: keep it off the event loop
                body = (await asyncio.to_thread(self.payload, sample)
                        if sample.image_path is not None else self.payload(sample))
            except ImageError as exc:
                result.error = f"bad input: {exc}"
                return result
            for attempt in range(1, self.generation.retries + 2):
                result.attempts = attempt
                try:
                    await self._attempt(http, body, result)
                    result.error = ""
                    return result
                except RequestFailed as exc:
                    result.error = str(exc)
                    if not exc.transient or attempt > self.generation.retries:
                        return result
                await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1),
                                        self.max_backoff_s))
            return result
        finally:
            self._slots.put_nowait(http)

    async def _attempt(self, http: httpx.AsyncClient, body: dict[str, Any],
                       result: RequestResult) -> None:
        """One HTTP request; fills ``result`` or raises ``RequestFailed``."""
        started = time.perf_counter()
        try:
            async with http.stream("POST", self.url, json=body) as response:
                if response.status_code != 200:
                    raise _status_failure(response, await response.aread())
                if body["stream"]:
                    await self._read_stream(response, result, started)
                else:
                    await self._read_json(response, result)
        except httpx.TimeoutException as exc:
            raise RequestFailed(f"timeout: {type(exc).__name__}", transient=True) from exc
        except httpx.TransportError as exc:
            raise RequestFailed(f"connection error: {type(exc).__name__}: {exc}",
                                transient=True) from exc
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise RequestFailed(f"malformed reply: {type(exc).__name__}: {exc}",
                                transient=False) from exc
        result.latency_ms = _ms(time.perf_counter() - started)
        result.tpot_ms = tpot(result.latency_ms, result.ttft_ms, result.completion_tokens)

    async def _read_json(self, response: httpx.Response, result: RequestResult) -> None:
        data = json.loads(await response.aread())
        result.model_answer = data["choices"][0]["message"].get("content") or ""
        self._set_usage(result, data.get("usage"))
        result.ttft_ms = None

    async def _read_stream(self, response: httpx.Response, result: RequestResult,
                           started: float) -> None:
        parts: list[str] = []
        result.ttft_ms = None
        result.prompt_tokens = result.completion_tokens = None
        done = False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True  # read on to the end so the connection is kept alive
                continue
            event = json.loads(data)
            if "error" in event:
                message = event["error"].get("message", "stream error")
                raise RequestFailed(f"stream error: {message}", transient=True)
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    if result.ttft_ms is None:
                        result.ttft_ms = _ms(time.perf_counter() - started)
                    parts.append(text)
            self._set_usage(result, event.get("usage"))
        if not done:
            raise RequestFailed("stream ended without [DONE]", transient=True)
        result.model_answer = "".join(parts)

    @staticmethod
    def _set_usage(result: RequestResult, usage: dict[str, Any] | None) -> None:
        if usage:
            result.prompt_tokens = usage.get("prompt_tokens")
            result.completion_tokens = usage.get("completion_tokens")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
