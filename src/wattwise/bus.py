"""In-process publish/subscribe of what has been stored.

Publishing happens only after the write committed, so a consumer never sees a reading that
could still be lost. Each subscriber has its own bounded queue: a slow consumer (a stalled
browser) loses its oldest messages and is told how many, and never slows ingest down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # "readings", "events", "findings", "alerts", "commands" …
    payload: Any
    #: Published by another Wattwise process and carried here by the bus link
    #: (``wattwise.bus_link``): consumers that act once per installation skip it.
    remote: bool = False


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
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop it lives on, once seen

    def _see_loop(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):  # called from outside a loop
                self._loop = asyncio.get_running_loop()

    def subscribe(self, *topics: str) -> Subscription:
        self._see_loop()
        sub = Subscription(topics=frozenset(topics))
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def subscribers(self) -> dict[str, int]:
        """How many subscriptions each topic has (topics with none are absent).

        Read-only; a count that only grows shows consumers that never unsubscribe (`/metrics`
        exposes it as ``wattwise_bus_subscribers``).
        """
        counts: dict[str, int] = {}
        for sub in list(self._subscriptions):  # one C call: safe beside the loop's subscribe
            for topic in sub.topics:
                counts[topic] = counts.get(topic, 0) + 1
        return counts

    def on(self, topic: str, handler: Callable[[Message], None]) -> None:
        self._see_loop()
        self._handlers.append((frozenset((topic,)), handler))

    def off(self, topic: str, handler: Callable[[Message], None]) -> None:
        """Stop calling ``handler`` for ``topic`` (a consumer that detaches)."""
        self._handlers = [(t, h) for t, h in self._handlers if not (topic in t and h == handler)]

    def publish(self, topic: str, payload: Any, *, remote: bool = False) -> None:
        """Deliver to everyone interested; must be called from the event loop's thread."""
        self._see_loop()
        message = Message(topic, payload, remote)
        for sub in list(self._subscriptions):
            sub.offer(message)
        for topics, handler in self._handlers:
            if topic in topics:
                try:
                    handler(message)
                except Exception:
                    log.exception("bus handler for %s failed", topic)

    def publish_from_thread(self, topic: str, payload: Any, *, remote: bool = False) -> None:
        """Publish from a worker thread: handed to the bus's loop. Before the bus has seen a
        loop, or once it closed (shutting down), there is no one to deliver to: dropped."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(partial(self.publish, topic, payload, remote=remote))
