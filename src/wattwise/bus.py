"""In-process publish/subscribe of what has been stored.

Publishing happens only after the write committed, so a consumer never sees a reading that
could still be lost. Each subscriber has its own bounded queue: a slow consumer (a stalled
browser) loses its oldest messages and is told how many, and never slows ingest down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # "readings", later "events", "findings", "alerts" …
    payload: Any


@dataclass(eq=False)
class Subscription:
    topics: frozenset[str]
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    dropped: int = 0

    def offer(self, message: Message) -> None:
        if message.topic not in self.topics:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            yield await self.queue.get()


class Bus:
    """Fan-out to async subscribers (queues) and sync handlers (called inline, must be quick)."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._handlers: list[tuple[frozenset[str], Callable[[Message], None]]] = []

    def subscribe(self, *topics: str) -> Subscription:
        sub = Subscription(topics=frozenset(topics))
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def on(self, topic: str, handler: Callable[[Message], None]) -> None:
        self._handlers.append((frozenset((topic,)), handler))

    def off(self, topic: str, handler: Callable[[Message], None]) -> None:
        """Stop calling ``handler`` for ``topic`` (a consumer that detaches)."""
        self._handlers = [(t, h) for t, h in self._handlers if not (topic in t and h == handler)]

    def publish(self, topic: str, payload: Any) -> None:
        """Deliver to everyone interested; must be called from the event loop's thread."""
        message = Message(topic, payload)
        for sub in list(self._subscriptions):
            sub.offer(message)
        for topics, handler in self._handlers:
            if topic in topics:
                try:
                    handler(message)
                except Exception:
                    log.exception("bus handler for %s failed", topic)
