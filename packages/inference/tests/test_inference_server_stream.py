"""The wrapper's SSE replies on the wire: a client that leaves mid-stream stops the backend,
and the reply's tail (finish chunk, usage chunk, ``[DONE]``) is one HTTP chunk."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlparse

import httpx

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.metrics import scraped
from vlmhb.inference.backends.base import Backend, GenerationRequest
from vlmhb.inference.backends.scripted import ScriptedBackend

ServeFn = Callable[[Backend], AbstractContextManager[str]]
WORDS = 40


class WatchedScripted(ScriptedBackend):
    """The scripted backend, noting how many chunks each stream gave and how it ended."""

    def __init__(self, **params: Any) -> None:
        super().__init__(ModelSpec(name="scripted", backend="scripted", model="m1", params=params))
        self.ends: list[tuple[str, int]] = []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        given, end = 0, "stopped"
        try:
            async for chunk in super().stream(request):
                given += 1
                yield chunk
            end = "finished"
        finally:
            self.ends.append((end, given))


def chat_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "m1",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
        **extra,
    }


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def wait_healthy(url: str) -> None:
    wait_for(lambda: httpx.get(f"{url}/health").status_code == 200)


def test_a_client_leaving_mid_stream_stops_the_backend_stream(serve: ServeFn) -> None:
    answer = " ".join(f"w{i}" for i in range(WORDS))
    # one word every ~100 ms: the whole answer would take 4 s
    backend = WatchedScripted(rule=f"constant:{answer}", latency_ms=4000, ttft_ms=1)
    with serve(backend) as url:
        wait_healthy(url)
        with (
            httpx.Client(base_url=url) as http,
            http.stream("POST", "/v1/chat/completions", json=chat_body()) as response,
        ):
            assert response.status_code == 200
            events = 0
            for line in response.iter_lines():
                events += line.startswith("data: ")
                if events == 2:
                    break  # leave: the client and its connection close here
        left_at = time.monotonic()
        wait_for(lambda: bool(backend.ends), timeout_s=3)
        assert time.monotonic() - left_at < 1.0  # stopped at once, not at the next word
        (end, given), *_ = backend.ends
        assert end == "stopped" and given < 5
        metrics = scraped(httpx.get(f"{url}/metrics").text)
        assert metrics["vlmhb_requests_in_flight"] == 0  # telemetry recorded the stream
        assert metrics["vlmhb_request_errors_total"] == 1
        # the server keeps serving: a full stream afterwards
        backend.rule = "constant:a b c"
        text = httpx.post(f"{url}/v1/chat/completions", json=chat_body(), timeout=10).text
        assert text.rstrip().endswith("data: [DONE]") and backend.ends[1] == ("finished", 3)


def read_chunks(url: str, body: dict[str, Any]) -> tuple[bytes, list[bytes]]:
    """POST ``body`` over a plain socket; the response head and its HTTP/1.1 chunks."""
    parsed = urlparse(url)
    payload = json.dumps(body).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {parsed.netloc}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(request)
        raw = b""
        while data := sock.recv(65536):
            raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    chunks: list[bytes] = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return head, chunks
        chunks.append(rest[:size])
        rest = rest[size + 2 :]


def test_stream_tail_is_one_http_chunk_after_one_chunk_per_word(serve: ServeFn) -> None:
    backend = WatchedScripted(rule="constant:a b c", latency_ms=30, ttft_ms=5)
    with serve(backend) as url:
        wait_healthy(url)
        head, chunks = read_chunks(url, chat_body(stream_options={"include_usage": True}))
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-type: text/event-stream; charset=utf-8" in head.lower()
    assert b"content-length" not in head.lower()
    assert b"x-vlmhb-server-ttft-ms" in head.lower()
    assert len(chunks) == 4  # the role chunk with "a ", "b ", "c", then the tail
    words = [json.loads(chunk.decode()[6:])["choices"][0]["delta"] for chunk in chunks[:3]]
    assert words == [{"role": "assistant", "content": "a "}, {"content": "b "}, {"content": "c"}]
    tail = [event[6:] for event in chunks[3].decode().split("\n\n") if event]
    assert tail[-1] == "[DONE]" and len(tail) == 3
    finish, usage = json.loads(tail[0]), json.loads(tail[1])
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 3
    assert backend.ends == [("finished", 3)]
