"""The live channel (WebSocket /api/v1/live) forwards alerts to those who may see their site."""

from __future__ import annotations

from starlette.testclient import WebSocketTestSession

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


def test_alerts_resolved_by_switching_off_or_deleting_their_rule_reach_the_live_channel(
    sqlite_services: Services,
) -> None:
    with alert_world(sqlite_services) as aw:
        w = aw.world
        first = aw.rule(name="Heater", kind="threshold", params=OVER_POWER)
        second = aw.rule(name="Heater 2", kind="threshold", params=OVER_POWER)
        t = aw.power(now_ms() - 600 * SECOND, [2500.0] * 8)
        assert len(aw.alerts(status="open")) == 2

        def next_alerts(ws: WebSocketTestSession) -> list[tuple[int | None, str, str | None]]:
            """The alerts published since the change; a reading posted after it ends the wait."""
            nonlocal t
            t = aw.power(t, [100.0])
            message = ws.receive_json()
            assert message["type"] == "alerts", message
            return [(a["rule_id"], a["status"], a["resolved_by"]) for a in message["data"]]

        with w.client.websocket_connect(f"/api/v1/live?token={w.viewer_token}") as ws:
            fields = {k: first[k] for k in ("site_id", "device_id", "name", "kind", "params", "cooldown_s")}
            aw.ok("PUT", f"/api/v1/alert-rules/{first['id']}", json={**fields, "enabled": False})
            assert next_alerts(ws) == [(first["id"], "resolved", "rule disabled")]
            assert ws.receive_json()["type"] == "readings"
            aw.ok("DELETE", f"/api/v1/alert-rules/{second['id']}")
            assert next_alerts(ws) == [(None, "resolved", "rule deleted")]
