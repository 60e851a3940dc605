"""One browser tab's share of the bus: stored readings of the meters it shows, pushed as they land.

NiceGUI runs on the same event loop as ingest, so a page subscribes to the bus directly
instead of polling. The subscription starts when the browser connects and ends when it is
gone for good (NiceGUI's disconnect fires only after reconnecting has failed). A page's
timers start when the browser connects (:func:`timer_when_connected`), so a page fetched by
something that never connects makes none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nicegui import Client, background_tasks, ui

from wattwise.bus import Bus, Subscription
from wattwise.domain.readings import StoredReading

log = logging.getLogger(__name__)
Deliver = Callable[[list[StoredReading]], None]


class LiveFeed:
    """Deliver batches of readings of ``device_ids`` to ``deliver``, inside the client's context."""

    def __init__(self, bus: Bus, device_ids: Iterable[int], deliver: Deliver) -> None:
        self._bus = bus
        self._ids = frozenset(device_ids)
        self._deliver = deliver
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    def attach(self, client: Client) -> None:
        """Start now (readings wait in the client's outbox until it connects); stop when it leaves."""
        if not self._ids:
            return
        self._subscription = self._bus.subscribe("readings")
        self._task = background_tasks.create(self._run(client, self._subscription), name="wattwise live feed")
        client.on_disconnect(self.stop)

    def stop(self) -> None:
        if self._subscription is not None:
            self._bus.unsubscribe(self._subscription)
            self._subscription = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self, client: Client, subscription: Subscription) -> None:
        try:
            async for message in subscription:
                if client._deleted:  # the tab is gone and its elements with it
                    break
                batch = [s for s in message.payload if s.reading.device_id in self._ids]
                if not batch:
                    continue
                try:
                    with client:
                        self._deliver(batch)
                except Exception:  # one bad update must not end the tab's live view
                    log.exception("live update failed")
        finally:
            with contextlib.suppress(Exception):
                self._bus.unsubscribe(subscription)


def of_meters(device_ids: Iterable[int]) -> Callable[[dict[str, Any]], bool]:
    """Items (events, findings) of these meters."""
    mine = frozenset(device_ids)
    return lambda item: item.get("device_id") in mine


def redraw_on(
    bus: Bus,
    topic: str,
    client: Client,
    wanted: Callable[[dict[str, Any]], bool],
    redraw: Callable[[], Awaitable[None]],
    *,
    settle_s: float = 1.0,
) -> None:
    """Redraw a page section when the bus carries ``topic`` items it shows.

    The payload is a list of dicts (what the detectors and the alert engine publish). A burst
    of items is drawn once: wait ``settle_s``, drop what queued meanwhile, draw. Stops when the
    tab is gone for good.
    """
    subscription = bus.subscribe(topic)

    async def run() -> None:
        try:
            async for message in subscription:
                if client._deleted:
                    break
                if not any(wanted(item) for item in message.payload or []):
                    continue
                await asyncio.sleep(settle_s)
                while not subscription.queue.empty():
                    subscription.queue.get_nowait()
                try:
                    with client:
                        await redraw()
                except Exception:  # one failed redraw must not end the tab's live view
                    log.exception("%s redraw failed", topic)
        finally:
            bus.unsubscribe(subscription)

    task = background_tasks.create(run(), name=f"wattwise {topic} redraw")

    def stop() -> None:
        with contextlib.suppress(Exception):
            bus.unsubscribe(subscription)
        task.cancel()

    client.on_disconnect(stop)


def timer_when_connected(interval_s: float, callback: Callable[[], Any], *, once: bool = False) -> None:
    """A ``ui.timer`` in the current slot, made when the browser connects (the first time only).

    NiceGUI's timer made while the page is built waits for the websocket, and on a page fetched
    by something that never opens it (curl, a crawler, a link preview) gives up after 60 s
    with an ERROR in the server's log: "Timer cancelled because client is not connected".
    Made from the connect handler, a timer exists only in a tab that connected; a reconnect
    does not make a second one.
    """
    client = ui.context.client
    slot = ui.context.slot
    parent = slot.parent  # held: a section redrawn before the browser connects is gone, and so is its timer
    made = False

    def start() -> None:
        nonlocal made
        if made or parent.is_deleted:
            return
        made = True
        with slot:
            ui.timer(interval_s, callback, once=once)

    client.on_connect(start)
