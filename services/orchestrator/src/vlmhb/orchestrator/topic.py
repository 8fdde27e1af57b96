"""A bus adapter that files every event under one topic (the experiment id)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from vlmhb.core.contracts import Event
from vlmhb.core.orchestration.events import EventBus


class TopicBus:
    """Publishes through ``inner`` with ``topic`` replaced by ``topic``.

    Stages name their experiment by its config name; the backend tracks experiments by id
    (two submissions may share a name), so the orchestrator of one submission publishes
    through this adapter.
    """

    def __init__(self, inner: EventBus, topic: str) -> None:
        self.inner = inner
        self.topic = topic

    def publish(self, event: Event) -> None:
        self.inner.publish(event.model_copy(update={"topic": self.topic}))

    def subscribe(self, topic: str = "*") -> AsyncIterator[Event]:
        return self.inner.subscribe(self.topic if topic == "*" else topic)
