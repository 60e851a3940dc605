"""One browser tab's share of the bus: what it shows, pushed as it is stored.

NiceGUI runs on the same event loop as ingest, so a page subscribes to the bus directly
instead of polling (:func:`follow`). The subscription is taken while the page is built, so
nothing stored between the build and the browser's connect is missed (a tile's energy today
adds every reading); it is read only once the browser connects, and ends when the tab is gone
for good: on NiceGUI's disconnect (which fires only after reconnecting has failed) or when
NiceGUI deletes the client — which is all a page fetched by something that never connects
(curl, a crawler, a link preview) gets, 60 s later, and also what becomes of a tab pruned
while it waits to reconnect. A page's timers start when the browser connects
(:func:`timer_when_connected`), so a page that never connects makes none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nicegui import background_tasks, ui
from nicegui.element import Element

from wattwise.bus import Bus, Message, Subscription
from wattwise.domain.readings import StoredReading

log = logging.getLogger(__name__)
Deliver = Callable[[list[StoredReading]], None]
Handle = Callable[[Message, Subscription], Awaitable[None]]


class _Ends(Element):
    """An invisible element whose deletion ends a subscription.

    NiceGUI 2.x tells nothing else when it deletes a client (its prune of clients that never
    connected runs no disconnect handler), but it deletes each element, calling this hook.
    """

    def __init__(self, end: Callable[[], None]) -> None:
        super().__init__()
        self._end = end
        self.style("display: none")

    def _handle_delete(self) -> None:
        self._end()
        super()._handle_delete()


def follow(bus: Bus, topic: str, handle: Handle) -> None:
    """Hand each ``topic`` message to ``handle`` (in the client's context) while this tab is open.

    Subscribes now; reads from the browser's first connect (a reconnect changes nothing); ends
    on disconnect or when the client, or the slot it was called in, is deleted. A handler that
    raises is logged and the tab's live view goes on.
    """
    client = ui.context.client
    subscription = bus.subscribe(topic)
    task: asyncio.Task[None] | None = None
    ended = False

    async def run() -> None:
        async for message in subscription:
            try:
                with client:
                    await handle(message, subscription)
            except Exception:
                log.exception("live %s update failed", topic)

    def start() -> None:
        nonlocal task
        if task is None and not ended:
            task = background_tasks.create(run(), name=f"wattwise live {topic}")

    def end() -> None:
        nonlocal ended
        ended = True
        bus.unsubscribe(subscription)
        if task is not None:
            task.cancel()

    _Ends(end)
    client.on_connect(start)
    client.on_disconnect(end)


def feed_readings(bus: Bus, device_ids: Iterable[int], deliver: Deliver) -> None:
    """Deliver batches of stored readings of ``device_ids`` to ``deliver`` while this tab is open."""
    mine = frozenset(device_ids)
    if not mine:
        return

    async def handle(message: Message, _: Subscription) -> None:
        batch = [s for s in message.payload if s.reading.device_id in mine]
        if batch:
            deliver(batch)

    follow(bus, "readings", handle)


def of_meters(device_ids: Iterable[int]) -> Callable[[dict[str, Any]], bool]:
    """Items (events, findings) of these meters."""
    mine = frozenset(device_ids)
    return lambda item: item.get("device_id") in mine


def redraw_on(
    bus: Bus,
    topic: str,
    wanted: Callable[[dict[str, Any]], bool],
    redraw: Callable[[], Awaitable[None]],
    *,
    settle_s: float = 1.0,
) -> None:
    """Redraw a page section when the bus carries ``topic`` items it shows, while this tab is open.

    The payload is a list of dicts (what the detectors and the alert engine publish). A burst
    of items is drawn once: wait ``settle_s``, drop what queued meanwhile, draw.
    """

    async def handle(message: Message, subscription: Subscription) -> None:
        if not any(wanted(item) for item in message.payload or []):
            return
        await asyncio.sleep(settle_s)
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        await redraw()

    follow(bus, topic, handle)


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
