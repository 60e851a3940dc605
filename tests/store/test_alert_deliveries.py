"""What an alert's channels answered, counted per alert in one query (the Alerts page's "notice sent")."""

from __future__ import annotations

from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site


def test_delivered_counts_what_went_through_and_what_was_tried(services: Services) -> None:
    with services.engine.begin() as conn:
        site = create_site(conn, "Hostel").id
        meter = create_device(conn, site_id=site, name="main").device.id
        rule = alert_store.add_rule(
            conn,
            alert_store.RuleFields(site_id=site, device_id=meter, name="Heater", kind="offline", params={}),
            by="admin",
        ).id
        ids = [
            alert_store.add_alert(
                conn,
                alert_store.NewAlert(
                    rule_id=rule,
                    site_id=site,
                    device_id=meter,
                    kind="offline",
                    started_ts=now_ms(),
                    value=None,
                    message=str(i),
                ),
            ).id
            for i in range(3)
        ]
        for ok in (True, False, True):
            alert_store.add_delivery(conn, ids[0], 7, ok, None)
        alert_store.add_delivery(conn, ids[1], 7, False, "HTTP 500")
        alert_store.add_delivery(conn, None, 7, True, None)  # a channel's test notice: no alert
    with services.engine.connect() as conn:
        assert alert_store.delivered(conn, ids) == {ids[0]: (2, 3), ids[1]: (0, 1)}
        assert alert_store.delivered(conn, []) == {}
