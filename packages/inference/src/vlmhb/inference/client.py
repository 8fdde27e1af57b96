"""Async load client for OpenAI-compatible chat servers.

``InferenceClient.infer(sample)`` sends one ``PreparedSample`` under a concurrency limit
(keep-alive connections, at most one per slot), streams the reply (server-sent events,
read by ``vlmhb.inference.sse``) and measures, like vLLM's ``bench serve``:

- ``ttft_ms``: request sent (the moment its body goes to the socket, after the client's own
  request building and connection pick-up: 0.3–0.7 ms that are not the server's) → first
  byte of the first non-empty content chunk;
- ``latency_ms``: request sent → end of the reply (end-to-end);
- ``tpot_ms = (latency - ttft) / (completion_tokens - 1)``, None with fewer than 2
  tokens; ``completion_tokens`` / ``prompt_tokens`` come from the server's ``usage``
  (never from counting chunks);
- inter-token latencies (ITL): gaps between successive content chunks, kept per request
  as mean and max (the full list only with ``keep_itl=True``).

Timings are those of the final attempt. ``queue_ms`` is the time the request waited on
the client for a concurrency slot (from its arrival, and again after each backoff), never
part of ``latency_ms``. Transient failures (connection errors, timeouts, 429, 5xx, a
broken stream) are retried with exponential backoff up to ``GenerationParams.retries``
times, the slot released while waiting. With ``adaptive=True`` the concurrency limit is
AIMD (``vlmhb.inference.limiter``): halved on 429/5xx, +1 per success up to
``concurrency``. A sample that keeps failing gives a result with ``error`` and
``error_type`` set, never an exception.

The HTTP client is aiohttp (its C HTTP parser): per streamed request it costs a third of
the CPU of httpx + httpcore + anyio (0.5 ms against 1.7 ms for a 144 KB page request on
this kind of machine, ``benchmarks/pipeline_real.py``), the difference between a client
that keeps up with a fast model server and one that does not. ``timeout_s`` bounds the
connect and every read (the gap between two bytes of the reply), not the whole reply.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from pydantic import Field

from vlmhb.core.contracts import GenerationParams, PreparedSample
from vlmhb.core.rundir import AnswerRow
from vlmhb.inference.images import ImageError, encode_image
from vlmhb.inference.limiter import ConcurrencyLimiter
from vlmhb.inference.page_cache import PAGES
from vlmhb.inference.sse import aiter_sse_stamped

# error_type values
BAD_INPUT = "bad_input"
TIMEOUT = "timeout"
CONNECTION = "connection"
HTTP_429 = "http_429"
HTTP_5XX = "http_5xx"
HTTP_4XX = "http_4xx"
STREAM = "stream"
MALFORMED = "malformed"
OVERLOAD_TYPES = frozenset({HTTP_429, HTTP_5XX})
JSON = {"content-type": "application/json"}
IMAGE_SLOT = f"\x00vlmhb-image-{uuid.uuid4().hex}\x00"
"""Stands for the image URL in a body until ``encode_body`` puts the URL there (random
per process, so no prompt text can hold it)."""
_IMAGE_SLOT_JSON = json.dumps(IMAGE_SLOT).encode()


class RequestResult(AnswerRow):
    """Outcome and timings of one sample (milliseconds): its ``answers.csv`` row
    (``vlmhb.core.rundir.AnswerRow``) and what only the client knows.

    ``sent_at``/``done_at`` are ``time.perf_counter()`` marks of the final attempt (for
    run wall-clock and throughput); ``itl_ms`` holds the gaps only when the client keeps
    them; ``server_ttft_ms`` is the TTFT the API wrapper measured itself (its
    ``vlmhb_timings``), None from other servers.
    """

    attempts: int = 0
    queue_ms: float = 0.0
    sent_at: float | None = None
    done_at: float | None = None
    itl_ms: list[float] = Field(default_factory=list, repr=False)
    server_ttft_ms: float | None = None


class RequestFailed(Exception):
    """One failed attempt; ``transient`` ones are retried. ``kind`` is an error_type."""

    def __init__(self, message: str, transient: bool, kind: str) -> None:
        super().__init__(message)
        self.transient = transient
        self.kind = kind


def tpot(latency_ms: float, ttft_ms: float | None, completion_tokens: int | None) -> float | None:
    """Time per output token after the first; None with fewer than 2 tokens."""
    if ttft_ms is None or completion_tokens is None or completion_tokens <= 1:
        return None
    return (latency_ms - ttft_ms) / (completion_tokens - 1)


def build_messages(sample: PreparedSample, image_url: str | None = None) -> list[dict[str, Any]]:
    """OpenAI messages for ``sample``: optional system prompt, user text and image (its
    ``image_path`` is used as given, as ``vlmhb.core.prepare`` does; ``image_url``, when
    given, is put in its place)."""
    content: list[dict[str, Any]] = []
    if sample.image_path is not None:
        url = image_url or encode_image(sample.image_path, sample.crop_box)
        content.append({"type": "image_url", "image_url": {"url": url}})
    content.append({"type": "text", "text": sample.user_prompt or sample.question})
    messages: list[dict[str, Any]] = []
    if sample.system_prompt:
        messages.append({"role": "system", "content": sample.system_prompt})
    messages.append({"role": "user", "content": content})
    return messages


def _status_failure(status: int, body: bytes) -> RequestFailed:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", errors="replace")[:300]
    kind = HTTP_429 if status == 429 else HTTP_5XX if status >= 500 else HTTP_4XX
    return RequestFailed(f"HTTP {status}: {message}", kind != HTTP_4XX, kind)


class InferenceClient:
    """Sends samples to ``base_url`` (ending in ``/v1``) with bounded concurrency."""

    def __init__(
        self,
        base_url: str,
        model: str,
        generation: GenerationParams,
        concurrency: int = 4,
        api_key: str | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        adaptive: bool = False,
        keep_itl: bool = False,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.generation = generation
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.keep_itl = keep_itl
        self.concurrency = concurrency
        self.limiter = ConcurrencyLimiter(concurrency, adaptive)
        self._headers = {**JSON, "authorization": f"Bearer {api_key}"} if api_key else JSON
        self._session: aiohttp.ClientSession | None = None
        self._making: dict[Path, asyncio.Future[str]] = {}

    async def __aenter__(self) -> InferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, made on first use (aiohttp wants a running event loop)."""
        if self._session is None:
            timeout_s = self.generation.timeout_s
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout_s, sock_read=timeout_s
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[_sent_clock()],
                # read once here: trust_env=True would look them up per request in a thread
                proxy=env_proxy(self.url),
            )
        return self._session

    def encoded(self, sample: PreparedSample) -> bytes:
        """``payload(sample)`` as the bytes sent (``ImageError`` if its image is unusable).
        The image's ``data:`` URL (a page's is made once per run) is copied into the JSON
        of the rest, not JSON-encoded again per question."""
        if sample.image_path is None:
            return encode_body(self.payload(sample))
        return self._with_image(sample, encode_image(sample.image_path, sample.crop_box))

    def _with_image(self, sample: PreparedSample, url: str) -> bytes:
        """The body of ``sample`` with its image's ``data:`` URL ``url``, copied in."""
        return encode_body(self.payload(sample, IMAGE_SLOT), url)

    def payload(self, sample: PreparedSample, image_url: str | None = None) -> dict[str, Any]:
        """The request body for ``sample`` (``ImageError`` if its image is unusable);
        ``image_url`` replaces the image's own ``data:`` URL."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(sample, image_url),
            "max_tokens": self.generation.max_tokens,
            "temperature": self.generation.temperature,
            "stream": self.generation.stream,
            "metadata": {"sample_id": sample.id},
        }
        if self.generation.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _body(self, sample: PreparedSample) -> bytes:
        """The encoded body; reading, decoding or cropping an image is CPU work done off
        the event loop, and a page is made once however many questions wait for it."""
        if sample.image_path is None:
            return self.encoded(sample)
        if sample.crop_box is None:
            url = await self._page_url(sample.image_path)
        else:
            url = await asyncio.to_thread(encode_image, sample.image_path, sample.crop_box)
        return self._with_image(sample, url)

    async def _page_url(self, path: Path) -> str:
        """A whole page's ``data:`` URL: taken on the event loop when made already (a
        thread hop would cost more than that), else made in one worker thread that every
        question about the page waits for."""
        ready = PAGES.ready_url(path)
        if ready is not None:
            return ready
        making = self._making.get(path)
        if making is None:
            making = asyncio.ensure_future(asyncio.to_thread(encode_image, path))
            self._making[path] = making
            making.add_done_callback(lambda _: self._making.pop(path, None))
        return await asyncio.shield(making)

    async def infer(
        self,
        sample: PreparedSample,
        arrived: float | None = None,
        body: bytes | None = None,
    ) -> RequestResult:
        """Run one sample to a result (answer or error) with retries.

        ``arrived`` (a ``time.perf_counter()`` mark, default now) is when the request
        entered the client: ``queue_ms`` counts from there. ``body`` (``encoded``'s
        bytes, built before the clock) overrides the request body built from ``sample``.
        """
        result = RequestResult(id=sample.id)
        waiting = time.perf_counter() if arrived is None else arrived
        for attempt in range(1, self.generation.retries + 2):
            permit = await self.limiter.acquire()
            result.queue_ms += _ms(time.perf_counter() - waiting)
            try:
                if body is None:
                    try:
                        body = await self._body(sample)
                    except ImageError as exc:
                        result.error, result.error_type = f"bad input: {exc}", BAD_INPUT
                        return result
                result.attempts = attempt
                try:
                    await self._attempt(body, result)
                except RequestFailed as exc:
                    result.error, result.error_type = str(exc), exc.kind
                    if exc.kind in OVERLOAD_TYPES:
                        self.limiter.overload(permit)
                    if not exc.transient or attempt > self.generation.retries:
                        return result
                else:
                    result.error = result.error_type = ""
                    self.limiter.success()
                    return result
            finally:
                self.limiter.release()
            await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))
            waiting = time.perf_counter()
        return result

    async def _attempt(self, body: bytes, result: RequestResult) -> None:
        """One HTTP request; fills ``result`` or raises ``RequestFailed``. The clock starts
        when the encoded body goes to the socket (``_sent_clock``; its JSON is made before)."""
        http = self._http()
        result.sent_at, result.done_at = time.perf_counter(), None
        try:
            async with http.post(
                self.url, data=body, headers=self._headers, trace_request_ctx=result
            ) as response:
                if response.status != 200:
                    raise _status_failure(response.status, await response.read())
                if self.generation.stream:
                    await self._read_stream(response, result)
                else:
                    await self._read_json(response, result)
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
            raise RequestFailed(f"timeout: {type(exc).__name__}", True, TIMEOUT) from exc
        except aiohttp.ClientPayloadError as exc:
            raise RequestFailed(f"stream broken: {exc}", True, STREAM) from exc
        except aiohttp.ClientError as exc:
            raise RequestFailed(
                f"connection error: {type(exc).__name__}: {exc}", True, CONNECTION
            ) from exc
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise RequestFailed(
                f"malformed reply: {type(exc).__name__}: {exc}", False, MALFORMED
            ) from exc
        result.done_at = time.perf_counter()
        result.latency_ms = _ms(result.done_at - result.sent_at)
        result.tpot_ms = tpot(result.latency_ms, result.ttft_ms, result.completion_tokens)

    async def _read_json(self, response: aiohttp.ClientResponse, result: RequestResult) -> None:
        data = json.loads(await response.read())
        result.model_answer = data["choices"][0]["message"].get("content") or ""
        result.prompt_tokens = result.completion_tokens = None
        self._set_usage(result, data.get("usage"))
        result.ttft_ms = result.itl_ms_mean = result.itl_ms_max = None
        result.itl_ms = []

    async def _read_stream(self, response: aiohttp.ClientResponse, result: RequestResult) -> None:
        """Read a streamed reply. A content chunk's time is when its first byte arrived
        (stamped before any SSE or JSON parsing), not when it was parsed."""
        parts: list[str] = []
        marks: list[float] = []
        result.prompt_tokens = result.completion_tokens = result.server_ttft_ms = None
        done = False
        async for message, arrived in aiter_sse_stamped(response.content.iter_any()):
            if message.done:
                done = True  # read on to the end so the connection is kept alive
                continue
            event = json.loads(message.data)
            if "error" in event:
                message = event["error"].get("message", "stream error")
                raise RequestFailed(f"stream error: {message}", True, STREAM)
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    marks.append(arrived)
                    parts.append(text)
            self._set_usage(result, event.get("usage"))
            timings = event.get("vlmhb_timings")
            if timings:
                result.server_ttft_ms = timings.get("server_ttft_ms")
        if not done:
            raise RequestFailed("stream ended without [DONE]", True, STREAM)
        result.model_answer = "".join(parts)
        sent = result.sent_at
        assert sent is not None  # _attempt set it
        result.ttft_ms = _ms(marks[0] - sent) if marks else None
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(marks)]
        result.itl_ms = [round(g, 3) for g in gaps] if self.keep_itl else []
        result.itl_ms_mean = round(sum(gaps) / len(gaps), 3) if gaps else None
        result.itl_ms_max = round(max(gaps), 3) if gaps else None

    @staticmethod
    def _set_usage(result: RequestResult, usage: dict[str, Any] | None) -> None:
        if usage:
            result.prompt_tokens = usage.get("prompt_tokens")
            result.completion_tokens = usage.get("completion_tokens")


def _sent_clock() -> aiohttp.TraceConfig:
    """Stamps ``RequestResult.sent_at`` as each body chunk goes to the socket (the last
    one's mark stays): the request's ``trace_request_ctx`` is its result."""

    async def mark(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestChunkSentParams,
    ) -> None:
        context.trace_request_ctx.sent_at = time.perf_counter()

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(mark)
    return trace


def env_proxy(url: str) -> str | None:
    """The proxy that ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` choose for ``url``."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def encode_body(body: dict[str, Any], image_url: str | None = None) -> bytes:
    """A request body as sent: compact JSON, UTF-8. With ``image_url`` (a base64
    ``data:`` URL as ``vlmhb.inference.images.encode_image`` makes them: ASCII with no
    character JSON escapes), the body's ``IMAGE_SLOT`` string is replaced by it after the
    rest is encoded, so a large page URL is copied, never scanned by the JSON encoder."""
    data = json.dumps(body, separators=(",", ":")).encode()
    if image_url is None:
        return data
    return data.replace(_IMAGE_SLOT_JSON, b'"' + image_url.encode("ascii") + b'"', 1)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
