"""Fan-out of persisted events to many WebSocket/SSE clients.

Each client has its own bounded queue; ``broadcast`` never waits, so one slow client
cannot hold up the others. When a client's queue is full it is **disconnected** (its
queue is replaced by a single close marker): the client reconnects with ``since=<last
seq>`` and gets the missed events replayed from the database, so nothing is lost
silently and memory stays bounded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """A serialised event: ``seq`` (global, increasing) and the JSON text sent as is."""

    seq: int
    text: str


CLOSE = Message(-1, "")


@dataclass(eq=False)
class Client:
    topic: str
    queue: asyncio.Queue[Message]
    overflowed: bool = False
    dropped_at: int | None = field(default=None)

    async def next(self) -> Message:
        """The next message; ``CLOSE`` when the client fell too far behind."""
        return await self.queue.get()


class Hub:
    def __init__(self, queue_size: int = 4096) -> None:
        self.queue_size = queue_size
        self._clients: dict[str, set[Client]] = {}

    def register(self, topic: str) -> Client:
        """Start receiving messages of ``topic`` (an experiment id, or ``*`` for all)."""
        client = Client(topic, asyncio.Queue(self.queue_size))
        self._clients.setdefault(topic, set()).add(client)
        return client

    def unregister(self, client: Client) -> None:
        clients = self._clients.get(client.topic)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[client.topic]

    @property
    def client_count(self) -> int:
        return sum(len(c) for c in self._clients.values())

    def broadcast(self, topic: str, message: Message) -> None:
        for key in (topic, "*"):
            for client in list(self._clients.get(key, ())):
                if client.overflowed:
                    continue
                try:
                    client.queue.put_nowait(message)
                except asyncio.QueueFull:
                    self._overflow(client, message.seq)

    def _overflow(self, client: Client, seq: int) -> None:
        client.overflowed = True
        client.dropped_at = seq
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(CLOSE)
