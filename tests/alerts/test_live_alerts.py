"""The live channel (WebSocket /api/v1/live) forwards alerts to those who may see their site."""

from __future__ import annotations

from alerts.alert_world import OVER_POWER, SECOND, alert_world
from wattwise.runtime import Services
from wattwise.store.clock import now_ms


def test_a_viewer_receives_the_alerts_of_their_site_and_not_another_s(sqlite_services: Services) -> None:
    with alert_world(sqlite_services) as aw:
        w = aw.world
        aw.rule(kind="threshold", params=OVER_POWER)
        aw.rule(site_id=w.site_b, kind="threshold", params=OVER_POWER)
        t = now_ms() - 600 * SECOND
        with w.client.websocket_connect(f"/api/v1/live?token={w.viewer_token}") as ws:
            aw.power(t, [2500.0] * 8, key=w.key_b)  # site B: not the viewer's
            aw.power(t, [2500.0] * 8)
            message = ws.receive_json()
            while message["type"] != "alerts":
                assert all(r["device_id"] == w.meter_a for r in message["data"])
                message = ws.receive_json()
        (alert,) = message["data"]
        assert (alert["site_id"], alert["device_id"], alert["status"]) == (w.site_a, w.meter_a, "open")
        assert len(aw.alerts()) == 2  # the administrator sees both
