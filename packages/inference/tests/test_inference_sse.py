"""``vlmhb.inference.sse`` against real streams: a raw HTTP server on 127.0.0.1 writes an
OpenAI stream in awkward pieces (multi-line data, comments, CRLF and bare CR line ends,
chunk boundaries inside a line, inside a CRLF and inside a UTF-8 character), read by the
parser itself, by the load client and by the ``openai`` backend."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from vlmhb.core.contracts import GenerationParams, ModelSpec, PreparedSample
from vlmhb.inference.backends.base import GenerationRequest, StreamEnd
from vlmhb.inference.backends.openai_remote import OpenAIBackend
from vlmhb.inference.client import InferenceClient
from vlmhb.inference.sse import SSEDecoder, SSEEvent, aiter_sse, aiter_sse_stamped

ANSWER = "Привет, мир"


def _chunk(text: str, finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def stream_bytes() -> bytes:
    """An OpenAI stream using every line-end form, comments, a multi-line data event and
    a usage event whose JSON is spread over three data lines."""
    first = json.dumps(_chunk("Привет"), ensure_ascii=False)
    second = json.dumps(_chunk(", "))
    third = json.dumps(_chunk("мир", "stop"), ensure_ascii=False)
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    comma = usage.index(", ") + 1
    head, tail = usage[:comma], usage[comma:]  # a newline between JSON tokens is whitespace
    return (
        b": keep-alive comment\r\n"
        + f"event: message\r\nid: 1\r\ndata: {first}\r\n\r\n".encode()
        + b":another comment\n"
        + f"data:{second}\r\r".encode()  # no space after the colon, bare CR line ends
        + f"data: {third}\n\n".encode()
        + f"data: {head}\ndata: {tail}\n\n".encode()  # one JSON value over two data lines
        + b"data: [DONE]\r\n\r\n"
    )


def pieces(data: bytes) -> list[bytes]:
    """``data`` cut inside a line, inside every CRLF and inside the UTF-8 characters."""
    cuts = {7, 23}
    cuts |= {i + 1 for i in range(len(data) - 1) if data[i : i + 2] == b"\r\n"}
    cuts |= {i + 1 for i in range(len(data)) if data[i] >= 0xC0}  # after a lead byte
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@asynccontextmanager
async def sse_server(body: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTP/1.1 server on 127.0.0.1 that answers every request with ``body`` as an
    event stream, written in ``pieces`` with a pause between them; yields its ``/v1``
    URL and the request bodies it got."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        requests.append(await reader.readexactly(length))
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        for piece in pieces(body):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", requests
    finally:
        server.close()
        await server.wait_closed()


async def test_the_parser_reads_a_real_stream_in_awkward_pieces() -> None:
    async with (
        sse_server(stream_bytes()) as (url, _),
        httpx.AsyncClient() as http,
        http.stream("POST", url + "/chat/completions", json={}) as response,
    ):
        events = [event async for event in aiter_sse(response.aiter_bytes())]
    assert [e.data for e in events][-1] == "[DONE]" and events[-1].done
    assert events[0].event == "message" and events[0].id == "1"
    assert all(e.id == "1" for e in events)  # the last event id carries on
    payloads = [json.loads(e.data) for e in events[:-1]]
    text = "".join(p["choices"][0]["delta"]["content"] for p in payloads if p["choices"])
    assert text == ANSWER
    assert payloads[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3}
    assert "\n" in events[3].data  # the two data lines joined with a newline


def test_every_split_point_gives_the_same_events() -> None:
    data = stream_bytes()
    whole = SSEDecoder()
    expected = whole.feed(data) + whole.end()
    assert len(expected) == 5
    for cut in range(1, len(data)):
        decoder = SSEDecoder()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.end() == expected


def test_edge_rules() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"\xef\xbb\xbfdata: a\n\nevent: ping\n\ndata\ndata:  two\n\n")
    # BOM dropped; an event without data is not dispatched; "data" alone is an empty line
    assert events == [SSEEvent("a"), SSEEvent("\n two")]
    assert decoder.feed(b"data: [DONE]") == [] and decoder.end() == [SSEEvent("[DONE]")]


async def test_each_event_is_stamped_when_its_first_byte_arrived() -> None:
    """An event split over two chunks gets the first chunk's arrival time however late
    its end comes, and however long the reader takes over each event."""
    arrivals: list[float] = []

    async def chunks() -> AsyncIterator[bytes]:
        for piece in (b"data: a", b"\n\ndata: b\n\ndata: c", b"\n\n"):
            arrivals.append(time.perf_counter())
            yield piece
            await asyncio.sleep(0.03)

    stamped = []
    async for event, stamp in aiter_sse_stamped(chunks()):
        stamped.append((event.data, stamp))
        time.sleep(0.01)  # slow parsing of each event must not move the stamps
    assert [data for data, _ in stamped] == ["a", "b", "c"]
    (_, a), (_, b), (_, c) = stamped
    assert arrivals[0] <= a < arrivals[1]  # "a" began in the first chunk
    assert arrivals[1] <= b == c < arrivals[2]  # "b" and "c" began in the second


async def test_the_load_client_reads_the_stream_through_the_parser() -> None:
    async with (
        sse_server(stream_bytes()) as (url, requests),
        InferenceClient(url, "m", GenerationParams(retries=0), concurrency=1) as client,
    ):
        result = await client.infer(PreparedSample(id="1", user_prompt="hi"))
    assert result.error == "" and result.model_answer == ANSWER
    assert (result.prompt_tokens, result.completion_tokens) == (7, 3)
    assert result.ttft_ms is not None and json.loads(requests[0])["stream"] is True


async def test_the_openai_backend_reads_the_stream_through_the_parser() -> None:
    async with sse_server(stream_bytes()) as (url, _):
        backend = OpenAIBackend(
            ModelSpec(name="r", backend="openai", base_url=url, params={"check_on_load": False})
        )
        await backend.load()
        try:
            items = [
                item
                async for item in backend.stream(
                    GenerationRequest(user="hi", messages=[{"role": "user", "content": "hi"}])
                )
            ]
        finally:
            await backend.unload()
    assert "".join(i for i in items if isinstance(i, str)) == ANSWER
    assert items[-1] == StreamEnd(7, 3, "stop")
