"""What the detectors announce on the bus (for the live channel and alert rules), and detaching them."""

from __future__ import annotations

import threading
from typing import Any

from detectors.live_world import live_world
from wattwise.bus import Message
from wattwise.detectors import Detectors
from wattwise.runtime import Services

T0 = 1_763_942_400_000


def readings(start: int, count: int) -> list[dict[str, Any]]:
    """A 230 V supply every 2 s: a 2 kW kettle on for a minute, then a short sag."""
    rows = []
    for i in range(count):
        power = 2100.0 if 30 <= i < 60 else 100.0
        volts = 190.0 if 80 <= i < 83 else 231.0
        rows.append({"ts": start + 2000 * i, "power": power, "voltage": volts, "pf": 1.0, "frequency": 50.0})
    return rows


class Heard:
    """Collects what the bus carries on a topic; ``wait`` until something came."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._came = threading.Event()

    def __call__(self, message: Message) -> None:
        self.messages.extend(message.payload)
        self._came.set()

    def wait(self) -> list[Any]:
        assert self._came.wait(30), "nothing was published"
        return self.messages


def test_events_and_findings_are_published_after_they_are_stored(sqlite_services: Services) -> None:
    events, findings = Heard(), Heard()
    sqlite_services.bus.on("events", events)
    sqlite_services.bus.on("findings", findings)
    with live_world(sqlite_services) as live:
        w = live.world
        live.post(readings(T0, 120))
        live.detectors.flush()
        heard = events.wait()
        stored = live.get(f"/api/v1/devices/{w.meter_a}/appliance-events")
        assert {e["id"] for e in heard if e["type"] == "event"} == {e["id"] for e in stored}
        assert all(e["device_id"] == w.meter_a for e in heard)
        (run,) = [e for e in heard if e["type"] == "run"]
        assert run["closed"] and 50 <= run["duration_s"] <= 70
        (sag,) = findings.wait()
        assert sag["kind"] == "sag" and sag["status"] == "open"
        assert sag == live.get(f"/api/v1/findings/{sag['id']}")

        live.detectors()  # detached: readings are still stored, but nobody detects any more
        live.post(readings(T0 + 600_000, 120))
        assert live.get(f"/api/v1/devices/{w.meter_a}/appliance-events") == stored


def test_a_run_that_began_before_a_restart_is_closed_after_it(sqlite_services: Services) -> None:
    rows = readings(T0, 120)
    with live_world(sqlite_services) as live:
        w = live.world
        live.post(rows[:45])  # the kettle is on when the service stops
        live.detectors.flush()
        live.detectors()
        restarted = Detectors(sqlite_services).start()
        try:
            live.post(rows[45:])
            restarted.flush()
        finally:
            restarted()
        (run,) = live.get(f"/api/v1/devices/{w.meter_a}/appliance-runs")
        assert run["closed"] and 55 <= run["duration_s"] <= 65
        on, off = (live.get(f"/api/v1/devices/{w.meter_a}/appliance-events", limit=10)[i] for i in (1, 0))
        assert (run["on_event_id"], run["off_event_id"]) == (on["id"], off["id"])


def test_the_live_channel_pushes_appliance_events_and_findings(sqlite_services: Services) -> None:
    """Needs ``api/live.py`` to forward the "events" and "findings" topics (the lead's wiring)."""
    with live_world(sqlite_services) as live:
        w = live.world
        with w.client.websocket_connect(f"/api/v1/live?token={w.viewer_token}") as ws:
            live.post(readings(T0, 120))
            live.detectors.flush()
            pushed: dict[str, list[dict[str, Any]]] = {}
            while not {"events", "findings"} <= set(pushed):
                message = ws.receive_json()
                pushed.setdefault(message["type"], []).extend(message["data"])
        kinds = [f["kind"] for f in pushed["findings"]]
        assert kinds == ["sag"]
        assert {e["type"] for e in pushed["events"]} >= {"event"}
        assert all(e["device_id"] == w.meter_a for e in pushed["events"])
