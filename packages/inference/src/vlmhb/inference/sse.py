"""Server-sent events: the one parser of streamed chat replies (the load client and the
``openai`` backend read OpenAI ``stream: true`` replies through it).

The WHATWG rules: a line ends in LF, CR or CRLF (a CRLF split between two chunks is one
end of line); a line starting with ``:`` is a comment; ``field: value`` loses one space
after the colon; the ``data`` lines of an event are joined with ``\\n``; a blank line
dispatches the event, one without data is dropped. Lines are decoded as UTF-8 once whole,
so a character split between chunks arrives intact. One leniency: when the stream ends,
a last event not closed by a blank line is still dispatched (servers that end with
``data: [DONE]\\n``).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

DONE = "[DONE]"
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: ``data`` (lines joined with ``\\n``), its type and id."""

    data: str
    event: str = "message"
    id: str | None = None

    @property
    def done(self) -> bool:
        """OpenAI's end of stream, ``data: [DONE]``."""
        return self.data.strip() == DONE


class SSEDecoder:
    """Feed it the stream's bytes as they come; it returns the events completed so far."""

    def __init__(self) -> None:
        self._buffer = b""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events that ``chunk`` completes."""
        self._buffer += chunk
        if not self._started:
            if len(self._buffer) < len(_BOM) and _BOM.startswith(self._buffer):
                return []
            self._buffer = self._buffer.removeprefix(_BOM)
            self._started = True
        events: list[SSEEvent] = []
        start = 0
        for end in _LINE_END.finditer(self._buffer):
            if end.group() == b"\r" and end.end() == len(self._buffer):
                break  # maybe the first half of a CRLF: wait for the next chunk
            self._line(self._buffer[start : end.start()], events)
            start = end.end()
        self._buffer = self._buffer[start:]
        return events

    @property
    def pending(self) -> bool:
        """Whether bytes of an event not yet dispatched have arrived."""
        return bool(self._buffer or self._data or self._event)

    def end(self) -> list[SSEEvent]:
        """The stream ended: the event still open, if it has data."""
        events: list[SSEEvent] = []
        if self._buffer.rstrip(b"\r"):
            self._line(self._buffer.rstrip(b"\r"), events)
        self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event or "message", self._id))
            self._data, self._event = [], ""
            return
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """The events of a byte stream (e.g. aiohttp's ``response.content.iter_any()``),
    each as soon as its closing blank line has arrived."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.end():
        yield event


async def aiter_sse_stamped(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[SSEEvent, float]]:
    """Like ``aiter_sse``, each event with the ``time.perf_counter()`` mark of the arrival
    of its first byte, stamped as the chunk arrives, before any parsing."""
    decoder = SSEDecoder()
    began: float | None = None  # when the first byte of the open event arrived
    async for chunk in chunks:
        arrived = time.perf_counter()
        if began is None:
            began = arrived
        for event in decoder.feed(chunk):
            yield event, began
            began = arrived  # the chunk's later events began in it too
        if not decoder.pending:
            began = None
    for event in decoder.end():
        yield event, began if began is not None else time.perf_counter()
