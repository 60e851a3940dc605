"""The engine on its own clock and on what the detectors publish: a meter that goes quiet, a
budget running out, an appliance left on, and a restart in the middle of an alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, update

from alerts.alert_world import OVER_POWER, SECOND, alert_world
from wattwise.analysis.nilm.signatures import Features
from wattwise.detectors import library
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store.alerts_schema import alert_rules
from wattwise.store.billing_schema import billing_tariffs
from wattwise.store.clock import now_ms


def test_a_meter_that_stops_reporting_raises_one_offline_alert_resolved_by_its_next_reading(
    services: Services,
) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        aw.rule(name="Meter offline", kind="offline", params={"after_s": 300}, channel_ids=[hook])
        t0 = aw.clock.now
        aw.power(t0 - 10 * SECOND, [400.0])  # arrives at t0 on the engine's clock
        aw.engine.tick(t0 + 200 * SECOND)
        assert aw.alerts() == []
        aw.engine.tick(t0 + 400 * SECOND)
        aw.engine.tick(t0 + 500 * SECOND)  # still quiet: the same alert
        (alert,) = aw.alerts()
        assert (alert["status"], alert["device_id"], alert["started_ts"]) == (
            "open",
            aw.world.meter_a,
            t0 + 300 * SECOND,
        )
        assert alert["message"] == "main (Home A): No reading for 7 min" and alert["repeat_count"] == 1
        assert [n["title"] for n in aw.received] == ["Wattwise: Meter offline"]

        aw.clock.now = t0 + 600 * SECOND
        aw.power(t0 - 5 * SECOND, [420.0])  # its time as the meter says; it arrives at t0 + 600 s
        (alert,) = aw.alerts()
        assert (alert["status"], alert["ended_ts"], alert["resolved_by"]) == ("resolved", t0 + 600 * SECOND, "rule")
        assert len(aw.received) == 1


def test_budget_rules_fire_on_the_share_used_or_the_projection_and_resolve_when_the_budget_goes(
    services: Services,
) -> None:
    with alert_world(services) as aw:
        w = aw.world
        site = f"/api/v1/sites/{w.site_a}"
        aw.ok("PUT", f"{site}/tariff", json={"preset": "in-tn-domestic"})
        aw.ok("PUT", f"{site}/budget", json={"limit": "10", "unit": "kwh"})
        hook = aw.channel()
        aw.rule(name="Budget", kind="budget", params={"used_pct": 80}, channel_ids=[hook])
        # 06:00 to 12:00 in India on 15 February 2025 at 1.5 kW: about 9 kWh of a 10 kWh budget
        start = int(datetime(2025, 2, 15, 0, 30, tzinfo=UTC).timestamp() * 1000)
        aw.power(start, [1500.0] * 361, every_s=60)
        noon = start + 6 * 3600 * SECOND

        aw.engine.tick(start + 3600 * SECOND)  # 1.5 kWh by 07:00: 15 %
        assert aw.alerts() == []
        at_risk = aw.rule(name="Budget at risk", kind="budget", params={"projected": True})
        aw.engine.tick(noon)
        aw.engine.tick(noon + 60 * SECOND)  # still over 80 %: the same alert
        (risk,) = [a for a in aw.alerts() if a["rule_id"] == at_risk["id"]]
        assert risk["message"] == "Home A: Budget 90 % used (9.000 of 10 kWh): this cycle may end above it"
        (alert,) = [a for a in aw.alerts() if a["rule_id"] != at_risk["id"]]
        # the alert says what the site's budget says at that instant: the 9 kWh the readings
        # recorded by noon (the UTC hour holding noon, 06:00-07:00, counts its readings up to
        # 06:30, not half of the hour's by time)
        status = aw.ok("GET", f"{site}/budget", params={"as_of": noon})["status"]
        assert (status["used"], status["fraction_used"]) == ("9.000", 0.9)
        assert (alert["device_id"], alert["site_id"], alert["value"]) == (None, w.site_a, 90.0)
        assert alert["message"] == "Home A: Budget 90 % used (9.000 of 10 kWh)"
        assert [n["title"] for n in aw.received] == ["Wattwise: Budget"]
        assert status["state"] == "at_risk"  # projected to end above the budget: the other rule
        assert aw.client.get("/api/v1/alerts", headers=w.auth(w.viewer_token)).json() == aw.alerts()

        aw.ok("DELETE", f"{site}/budget")
        aw.engine.tick(noon + 120 * SECOND)
        assert [a["status"] for a in aw.alerts()] == ["resolved", "resolved"]


def test_an_appliance_left_on_raises_an_alert_and_switching_it_off_resolves_it(services: Services) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        meter = aw.world.meter_a
        aw.rule(name="Iron", kind="appliance", params={"label": "iron", "on_longer_than_s": 1800}, channel_ids=[hook])
        aw.rule(name="Kettle", kind="appliance", params={"label": "kettle"}, channel_ids=[hook])
        t = now_ms() - 3600 * SECOND

        def event(ts: int, state: str, label: str) -> dict[str, object]:
            return {"type": "event", "device_id": meter, "ts": ts, "state": state, "label": label, "confidence": 0.9}

        aw.power(t, [1200.0])
        aw.publish("events", [event(t, "on", "Iron")])  # as the detectors publish a labelled ON step
        aw.power(t + 60 * SECOND, [1200.0] * 25, every_s=60)  # 25 min on
        assert aw.alerts() == []
        aw.power(t + 26 * 60 * SECOND, [1200.0] * 6, every_s=60)  # 31 min on
        (iron,) = aw.alerts()
        assert iron["message"] == "main (Home A): Iron still on after 31 min" and iron["kind"] == "appliance"
        aw.publish("events", [event(t + 33 * 60 * SECOND, "off", "Iron")])
        (iron,) = aw.alerts()
        assert iron["status"] == "resolved"

        aw.publish("events", [event(t + 40 * 60 * SECOND, "on", "kettle")])
        kettle = aw.alerts()[0]
        assert (kettle["message"], kettle["status"]) == ("main (Home A): Kettle switched on", "open")
        assert [(n["title"], n["severity"]) for n in aw.received] == [
            ("Wattwise: Iron", "info"),
            ("Wattwise: Kettle", "info"),
        ]


def test_after_a_restart_an_open_alert_is_still_the_one_that_repeats_and_resolves(services: Services) -> None:
    with alert_world(services) as aw:
        aw.rule(kind="threshold", params=OVER_POWER)
        t = aw.power(now_ms() - 3600 * SECOND, [2500.0] * 8)
        aw.restart()
        t = aw.power(t, [1900.0, 2500.0, 2500.0, 2500.0, 2500.0, 2500.0, 2500.0, 2500.0])
        (alert,) = aw.alerts()
        assert (alert["status"], alert["repeat_count"]) == ("open", 2)
        aw.restart()
        aw.power(t, [1000.0] * 8)
        (alert,) = aw.alerts()
        assert alert["status"] == "resolved"


def test_an_alert_a_person_resolved_while_it_goes_on_is_not_raised_again_after_a_restart(services: Services) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        aw.rule(kind="threshold", params=OVER_POWER, channel_ids=[hook], cooldown_s=0)
        aw.rule(kind="offline", params={"after_s": 600}, channel_ids=[hook], cooldown_s=0)
        t = aw.power(now_ms() - 3600 * SECOND, [2500.0] * 8)
        (over,) = aw.alerts()
        aw.ok("POST", f"/api/v1/alerts/{over['id']}/resolve")
        aw.clock.now = now_ms() + 3600 * SECOND
        aw.engine.tick()
        offline = [a for a in aw.alerts() if a["kind"] == "offline"]
        aw.ok("POST", f"/api/v1/alerts/{offline[0]['id']}/ignore")
        assert len(aw.received) == 2

        # the server restarts while the heater is still on and the meter still silent: no new alert
        aw.restart()
        aw.engine.tick()
        assert len(aw.alerts()) == 2 and len(aw.received) == 2
        t = aw.power(t, [2500.0] * 8)
        assert len(aw.alerts()) == 2 and len(aw.received) == 2

        # once it clears and comes back, it is a new alert, sent
        t = aw.power(t, [1000.0] * 8 + [2500.0] * 8)
        over_again = [a["status"] for a in aw.alerts() if a["kind"] == "threshold"]
        assert over_again == ["open", "resolved"] and len(aw.received) == 3


def test_a_notice_the_server_stopped_before_sending_goes_out_when_it_starts_again(services: Services) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        rule = aw.rule(name="Heater", kind="threshold", params=OVER_POWER, channel_ids=[hook])
        quiet = aw.rule(name="Quiet", kind="threshold", params=OVER_POWER, channel_ids=[hook])
        t = aw.power(now_ms() - 3600 * SECOND, [2500.0] * 8)
        assert len(aw.received) == 2
        # the server stored two alerts and stopped before their notices went out (one in its cooldown)
        stored = [
            alert_store.NewAlert(
                rule_id=r["id"],
                site_id=aw.world.site_a,
                device_id=None,
                kind="threshold",
                started_ts=t,
                value=2500.0,
                message=f"{r['name']} is over",
                quiet=q,
            )
            for r, q in ((rule, None), (quiet, alert_store.QUIET_COOLDOWN))
        ]
        services.writer.run(lambda conn: [alert_store.add_alert(conn, s) for s in stored])

        aw.restart()
        aw.engine.flush()
        assert [(n["title"], n["message"]) for n in aw.received[2:]] == [("Wattwise: Heater", "Heater is over")]
        resent = [a for a in aw.alerts() if a["message"] == "Heater is over"]
        assert resent[0]["last_notified_ms"] is not None
        aw.restart()
        aw.engine.flush()
        assert len(aw.received) == 3


def test_an_appliance_renamed_on_its_meter_keeps_the_rules_that_watch_it(services: Services) -> None:
    """Renamed on the Appliances page (or over REST), the kettle's rule follows the new name
    instead of waiting for events of a name no longer given; another meter's rule stays."""
    with alert_world(services) as aw:
        w = aw.world
        model = library.new_model()
        model.library.add("Kettle", Features(2000.0, None, 1.0, 19.0, 60.0, True))
        services.writer.run(lambda conn: library.save_nilm(conn, w.meter_a, model))
        kettle = aw.rule(name="Kettle on", kind="appliance", params={"label": "kettle"}, device_id=w.meter_a)
        elsewhere = aw.rule(site_id=w.site_b, name="B's kettle", kind="appliance", params={"label": "Kettle"})
        switched_off = aw.rule(name="Off", kind="appliance", params={"label": "Kettle"}, enabled=False)

        aw.ok("POST", f"/api/v1/devices/{w.meter_a}/appliances/Kettle/rename", json={"name": "Electric kettle"})
        aw.engine.flush()
        labels = {r["id"]: r["params"]["label"] for r in aw.ok("GET", "/api/v1/alert-rules")}
        assert labels == {
            kettle["id"]: "Electric kettle",
            elsewhere["id"]: "Kettle",
            switched_off["id"]: "Electric kettle",
        }

        t = now_ms() - 600 * SECOND
        aw.power(t, [2000.0])
        event = {"type": "event", "device_id": w.meter_a, "ts": t, "state": "on", "label": "Electric kettle"}
        aw.publish("events", [{**event, "confidence": 0.9}])
        (alert,) = aw.alerts()
        assert (alert["rule_id"], alert["message"]) == (kettle["id"], "main (Home A): Electric kettle switched on")


def test_an_alert_the_database_refused_to_store_is_raised_at_the_next_look(sqlite_services: Services) -> None:
    """The engine's state must not run ahead of the store: when writing the alert fails (the
    database refuses it for a while), the next check raises it, instead of the rule counting
    it as fired and staying silent until the meter comes back. (SQLite: a trigger refuses.)"""
    with alert_world(sqlite_services) as aw:
        hook = aw.channel()
        aw.rule(name="Meter offline", kind="offline", params={"after_s": 300}, channel_ids=[hook])
        t0 = aw.clock.now
        aw.power(t0 - 10 * SECOND, [400.0])
        with sqlite_services.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        aw.engine.tick(t0 + 400 * SECOND)
        assert aw.alerts() == []
        with sqlite_services.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse")
        aw.engine.tick(t0 + 415 * SECOND)
        (alert,) = aw.alerts()
        assert alert["status"] == "open" and [n["title"] for n in aw.received] == ["Wattwise: Meter offline"]


def test_a_rule_that_cannot_be_checked_does_not_stop_the_others(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Site B's budget rule fails at every look (its stored tariff can no longer be read); site
    A's budget and offline rules, checked in the same look after it, still fire."""
    with alert_world(services) as aw:
        w = aw.world
        for site_id in (w.site_b, w.site_a):
            aw.ok("PUT", f"/api/v1/sites/{site_id}/tariff", json={"preset": "in-tn-domestic"})
            aw.ok("PUT", f"/api/v1/sites/{site_id}/budget", json={"limit": "1", "unit": "kwh"})
        with services.engine.begin() as conn:  # a preset this version no longer ships, stored unreadable
            conn.execute(
                update(billing_tariffs)
                .where(billing_tariffs.c.site_id == w.site_b)
                .values(preset="retired-preset", tariff_json="{}")
            )
        broken = aw.ok(
            "POST",
            "/api/v1/alert-rules",
            json={"site_id": w.site_b, "name": "Budget B", "kind": "budget", "params": {"used_pct": 80}},
        )
        hook = aw.channel()
        aw.rule(name="Budget", kind="budget", params={"used_pct": 80}, channel_ids=[hook])
        aw.rule(name="Meter offline", kind="offline", params={"after_s": 300}, channel_ids=[hook])
        start = int(datetime(2025, 2, 15, 0, 30, tzinfo=UTC).timestamp() * 1000)
        aw.clock.now = start + 3600 * SECOND  # the engine's clock: that morning, 07:00 in India
        aw.power(start, [1500.0] * 61, every_s=60)  # over a 1 kWh budget by then
        aw.engine.tick(aw.clock.now + 400 * SECOND)  # and the meter silent since
        assert sorted(a["message"] for a in aw.alerts()) == [
            "Home A: Budget 150 % used (1.500 of 1 kWh): over budget",  # 1.5 kW for an hour
            "main (Home A): No reading for 7 min",
        ]
        assert sorted(n["title"] for n in aw.received) == ["Wattwise: Budget", "Wattwise: Meter offline"]
        assert f"alert rule {broken['id']} ('Budget B') could not be checked" in caplog.text
        caplog.clear()
        aw.engine.tick(aw.clock.now + 700 * SECOND)  # failing still: one line, not a traceback each look
        (again,) = [r for r in caplog.records if r.name == "wattwise.alerts.engine"]
        assert again.getMessage().startswith(f"alert rule {broken['id']} ('Budget B') still cannot be checked: ")
        assert again.exc_info is None


def test_a_rule_whose_alert_cannot_be_stored_does_not_silence_the_others(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Two rules fire on the same readings. One was deleted in the database by a process this
    engine does not hear from (no bus link): its alert can no longer be stored. The other's
    alert is stored and sent all the same, the failure names the rule, and once the engine
    has read the rules again the deleted one stops failing while the other resolves."""
    with alert_world(services) as aw:
        hook = aw.channel()
        gone = aw.rule(name="Deleted elsewhere", kind="threshold", device_id=aw.world.meter_a, params=OVER_POWER)
        aw.rule(name="Overload", kind="threshold", device_id=aw.world.meter_a, params=OVER_POWER, channel_ids=[hook])
        with services.engine.begin() as conn:
            conn.execute(delete(alert_rules).where(alert_rules.c.id == gone["id"]))
        t = aw.power(aw.clock.now, [2500.0] * 10)  # above 2 kW for 45 s: both rules fire
        (alert,) = aw.alerts()
        assert (alert["message"], alert["status"]) == (
            "main (Home A): Power above 2000 W for 30 s (2500 W now)",
            "open",
        )
        assert [n["title"] for n in aw.received] == ["Wattwise: Overload"]
        failed = [r for r in caplog.records if r.name == "wattwise.alerts.engine"]
        assert [r.getMessage() for r in failed] == [
            f"alert rule {gone['id']} ('Deleted elsewhere') on meter {aw.world.meter_a}: its alert could not be"
            " stored; the other rules' alerts are kept"
        ]
        caplog.clear()
        aw.power(t, [1000.0] * 10)  # below the clear level for 45 s: resolved, and no failure
        (alert,) = aw.alerts()
        assert (alert["status"], alert["resolved_by"]) == ("resolved", "rule")
        assert [r for r in caplog.records if r.name == "wattwise.alerts.engine"] == []
        assert len(aw.received) == 1
