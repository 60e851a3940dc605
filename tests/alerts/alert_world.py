"""A running app with the alert engine attached and a real local HTTP receiver for its notices.

The engine is the app's own kind (``wattwise.alerts.Alerts``), attached by the test so it
can ``flush()`` and ``tick()``; its notices go out through a webhook-like delivery that
POSTs each notice as JSON with httpx to an ``http.server`` on a free local port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from fastapi.testclient import TestClient

from support import World, build_world
from wattwise.alerts import Alerts, AlertSettings
from wattwise.alerts.notify import Delivery, Notice
from wattwise.api.app import create_app
from wattwise.runtime import Services
from wattwise.store.clock import now_ms

SECOND = 1000
#: a heater-sized rule: above 2 kW for 30 s, cleared below 1.8 kW for 30 s
OVER_POWER = {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30}


@dataclass
class Receiver:
    """An HTTP server that keeps every JSON body POSTed to it."""

    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append({"path": self.path, **json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def post_notice(kind: str, config: dict[str, Any], notice: Notice) -> Delivery:
    """A webhook delivery: the notice as JSON to ``config["url"]``."""
    try:
        answer = httpx.post(
            config["url"],
            json={"kind": kind, "title": notice.title, "body": notice.body, "severity": notice.severity},
            timeout=5,
        )
    except httpx.HTTPError as exc:
        return Delivery(ok=False, error=f"{type(exc).__name__}: {exc}")
    return Delivery(ok=answer.is_success, error=None if answer.is_success else f"HTTP {answer.status_code}")


class Clock:
    """The engine's wall clock, moved by the test (offline rules)."""

    def __init__(self) -> None:
        self.now = now_ms()

    def __call__(self) -> int:
        return self.now


@dataclass
class AlertWorld:
    world: World
    engine: Alerts
    receiver: Receiver
    clock: Clock

    @property
    def client(self) -> TestClient:
        return self.world.client

    def ok(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        answer = self.client.request(method, path, headers=self.world.auth(token), **kwargs)
        assert answer.is_success, answer.text
        return answer.json() if answer.content else None

    def channel(self, site_id: int | None = None, url: str | None = None) -> int:
        body = {
            "site_id": site_id or self.world.site_a,
            "name": "hook",
            "kind": "webhook",
            "config": {"url": url or self.receiver.url},
        }
        return int(self.ok("POST", "/api/v1/alert-channels", json=body)["id"])

    def rule(self, **body: Any) -> dict[str, Any]:
        return self.ok("POST", "/api/v1/alert-rules", json={"site_id": self.world.site_a, "name": "rule", **body})  # type: ignore[no-any-return]

    def power(self, start: int, watts: list[float], every_s: int = 5, key: str | None = None) -> int:
        """Readings of meter A (or ``key``'s) every ``every_s`` from ``start``; the ts after the last."""
        rows = [{"ts": start + i * every_s * SECOND, "power": w, "voltage": 230.0} for i, w in enumerate(watts)]
        self.world.ingest(rows, key=key)
        self.engine.flush()
        return start + len(watts) * every_s * SECOND

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        return self.ok("GET", "/api/v1/alerts", params=params)  # type: ignore[no-any-return]

    def publish(self, topic: str, payload: Any) -> None:
        """Publish on the bus from the app's event loop, as the detectors do, and wait for the engine."""
        portal = self.client.portal
        assert portal is not None
        portal.call(self.world.services.bus.publish, topic, payload)
        self.engine.flush()

    def restart(self) -> None:
        """The process restarts: a fresh engine rebuilds its state from the stored alerts."""
        self.engine()
        self.engine = Alerts(self.world.services, self.engine.settings, deliver=post_notice, clock=self.clock).start()
        self.client.app.state.alerts = self.engine  # type: ignore[attr-defined]


@contextmanager
def alert_world(services: Services) -> Iterator[AlertWorld]:
    settings = services.settings.model_copy(update={"detectors": False, "alerts": False})
    world = replace(build_world(services), client=TestClient(create_app(settings=settings, services=services)))
    receiver = Receiver().start()
    clock = Clock()
    # the clock ticks only when a test asks (tick_s far away): offline and budget checks are explicit
    engine_settings = AlertSettings(tick_s=3600, budget_every_s=3600)
    try:
        with world.client:
            engine = Alerts(services, engine_settings, deliver=post_notice, clock=clock).start()
            world.client.app.state.alerts = engine  # type: ignore[attr-defined]
            live = AlertWorld(world, engine, receiver, clock)
            try:
                yield live
            finally:
                live.engine()
    finally:
        receiver.stop()
