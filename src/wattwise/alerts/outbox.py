"""Sending notices: a thread that delivers each alert through its rule's channels and records
every attempt, so a slow or dead channel never holds up the engine, ingest or the loop.

``deliver`` is ``alerts.notify.deliver`` unless a caller passes its own (the tests pass one
that posts to a local HTTP receiver). Whatever it does, a failure is recorded, never raised.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from wattwise.alerts import notify
from wattwise.alerts.notify import Delivery, Notice, dashboard_link
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound

log = logging.getLogger(__name__)

Deliver = Callable[[str, dict[str, Any], Notice], Delivery]
_STOP = ("stop",)


def default_deliver(kind: str, config: dict[str, Any], notice: Notice) -> Delivery:
    """``alerts.notify.deliver``, looked up at each call."""
    return notify.deliver(kind, config, notice)


def deliver_safely(deliver: Deliver, kind: str, config: dict[str, Any], notice: Notice) -> Delivery:
    """A channel's answer; a channel that raises counts as a failed delivery with its error."""
    try:
        return deliver(kind, config, notice)
    except Exception as exc:
        log.warning("alert channel %s failed: %s", kind, exc)
        return Delivery(ok=False, error=f"{type(exc).__name__}: {exc}")


def send_test(services: Services, deliver: Deliver, channel: alert_store.Channel) -> Delivery:
    """Send a test notice through ``channel`` and record it (a delivery with no alert); its
    link, when the dashboard's address is set, opens the page the channel is set on."""
    notice = Notice(
        title="Wattwise: test notice",
        body=f"This is a test of the alert channel '{channel.name}'. If you read this, it works.",
        severity="info",
        url=dashboard_link(services.settings.public_url, f"/alerts/settings?site={channel.site_id}"),
    )
    result = deliver_safely(deliver, channel.kind, channel.config, notice)
    services.writer.run(lambda conn: alert_store.add_delivery(conn, None, channel.id, result.ok, result.error))
    return result


class Outbox:
    """One thread; :meth:`put` queues an alert's notice, :meth:`flush` waits for the queue."""

    def __init__(self, services: Services, deliver: Deliver) -> None:
        self.services = services
        self.deliver = deliver
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="wattwise-alert-notices", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def put(self, alert_id: int, notice: Notice, channel_ids: Sequence[int]) -> None:
        self._queue.put(("send", alert_id, notice, list(channel_ids)))

    def flush(self, done: threading.Event) -> None:
        """Set ``done`` once every notice queued before has been sent and recorded."""
        self._queue.put(("flush", done))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item == _STOP:
                return
            if item[0] == "flush":
                item[1].set()
                continue
            try:
                self._send(item[1], item[2], item[3])
            except Exception:
                log.exception("sending the notice of alert %s failed", item[1])

    def _send(self, alert_id: int, notice: Notice, channel_ids: list[int]) -> None:
        channels = []
        with self.services.engine.connect() as conn:
            for channel_id in channel_ids:
                try:
                    channels.append(alert_store.get_channel(conn, channel_id))
                except NotFound:
                    continue  # deleted since the rule was read
        results = [(c.id, deliver_safely(self.deliver, c.kind, c.config, notice)) for c in channels]
        sent = now_ms()

        def record(conn: Connection) -> None:
            for channel_id, result in results:
                alert_store.add_delivery(conn, alert_id, channel_id, result.ok, result.error)
            alert_store.mark_notified(conn, alert_id, sent)

        self.services.writer.run(record)
