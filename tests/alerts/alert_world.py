"""A running app with the alert engine attached and a real local HTTP receiver for its notices.

The engine is the app's own kind (``wattwise.alerts.Alerts``), attached by the test so it
can ``flush()`` and ``tick()``; its notices go out through the real channels
(``alerts.notify.deliver``, Apprise): a webhook channel POSTs each one as JSON to an HTTP
server on a free local port, which keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from fastapi.testclient import TestClient

from support import QuietHandler, World, build_world, http_server
from wattwise.alerts import Alerts, AlertSettings
from wattwise.api.app import create_app
from wattwise.runtime import Services
from wattwise.store.clock import now_ms

SECOND = 1000
#: a heater-sized rule: above 2 kW for 30 s, cleared below 1.8 kW for 30 s
OVER_POWER = {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30}


@contextmanager
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """A webhook receiver: its URL, every JSON body POSTed to it, and each request's path and headers."""
    received: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []

    class Hook(QuietHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.body()))
            requests.append({"path": self.path, "headers": dict(self.headers.items())})
            self.send_response(204)
            self.end_headers()

    with http_server(Hook) as base:
        yield f"{base}/hook", received, requests


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
    hook_url: str
    received: list[dict[str, Any]]  # the notices the webhook receiver got, as Apprise sent them
    clock: Clock
    received_requests: list[dict[str, Any]]  # their paths and headers

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
            "config": {"url": url or self.hook_url},
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
        self.engine = Alerts(self.world.services, self.engine.settings, clock=self.clock).start()


@contextmanager
def alert_world(services: Services) -> Iterator[AlertWorld]:
    settings = services.settings.model_copy(update={"detectors": False, "alerts": False})
    world = replace(build_world(services), client=TestClient(create_app(settings=settings, services=services)))
    clock = Clock()
    # the clock ticks only when a test asks (tick_s far away): offline and budget checks are explicit
    engine_settings = AlertSettings(tick_s=3600, budget_every_s=3600)
    with receiver() as (hook_url, received, requests), world.client:
        engine = Alerts(services, engine_settings, clock=clock).start()
        live = AlertWorld(world, engine, hook_url, received, clock, requests)
        try:
            yield live
        finally:
            live.engine()
