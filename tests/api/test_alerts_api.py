"""Alerts over REST, end to end: a meter reports through /api/v1/ingest, the rule a person set
raises an alert, its notice reaches a real local HTTP receiver, and people act on it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection

from alerts.alert_world import OVER_POWER, SECOND, AlertWorld, alert_world, receiver
from alerts.channel_servers import receiving
from support import free_port
from wattwise.runtime import Services
from wattwise.store import findings as finding_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.users import create_token, create_user, grant


def test_an_over_power_alert_is_raised_once_counted_while_open_resolved_and_kept_quiet_in_cooldown(
    services: Services,
) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        rule = aw.rule(name="Heater left on", kind="threshold", params=OVER_POWER, channel_ids=[hook], cooldown_s=600)
        t = now_ms() - 3600 * SECOND

        # 60 s at 2.5 kW: one alert, one notice
        t = aw.power(t, [2500.0] * 12)
        (alert,) = aw.alerts()
        assert (alert["status"], alert["rule_id"], alert["device_id"]) == ("open", rule["id"], aw.world.meter_a)
        assert alert["message"] == "main (Home A): Power above 2000 W for 30 s (2500 W now)"
        assert alert["repeat_count"] == 1 and alert["value"] == 2500.0
        assert [(n["title"], n["message"]) for n in aw.received] == [("Wattwise: Heater left on", alert["message"])]
        shown = aw.ok("GET", f"/api/v1/alerts/{alert['id']}")
        assert [(d["channel_id"], d["ok"]) for d in shown["deliveries"]] == [(hook, True)]
        assert shown["last_notified_ms"] is not None

        # it dips into the band (1.9 kW, not below the 1.8 kW clear level) and comes back: a repeat, no notice
        t = aw.power(t, [1900.0] * 4 + [2600.0] * 8)
        (alert,) = aw.alerts()
        assert (alert["status"], alert["repeat_count"], alert["value"]) == ("open", 2, 2600.0)
        assert len(aw.received) == 1

        # 40 s below 1.8 kW: resolved by the rule, 30 s after the first reading below
        below_from = t
        t = aw.power(t, [1500.0] * 8)
        (alert,) = aw.alerts()
        assert (alert["status"], alert["resolved_by"], alert["ended_ts"]) == (
            "resolved",
            "rule",
            below_from + 30 * SECOND,
        )

        # over again within the 10-minute cooldown: stored, not sent
        t = aw.power(t, [2500.0] * 8)
        again, first = aw.alerts()
        assert first["id"] == alert["id"]
        assert (again["status"], again["quiet"], again["last_notified_ms"]) == ("open", "cooldown", None)
        assert len(aw.received) == 1
        assert aw.alerts(status="open") == [again]

        # people act on it: acknowledge, then resolve; a second resolve is a conflict
        acked = aw.ok("POST", f"/api/v1/alerts/{again['id']}/acknowledge")
        assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "admin")
        done = aw.ok("POST", f"/api/v1/alerts/{again['id']}/resolve")
        assert (done["status"], done["resolved_by"]) == ("resolved", "admin")
        twice = aw.client.post(f"/api/v1/alerts/{again['id']}/resolve", headers=aw.world.auth())
        assert twice.status_code == 409 and "resolved" in twice.json()["detail"]

        # resolved by hand while still over: no new alert until it clears and comes back; past the cooldown
        # (ten minutes on the engine's clock) it is sent again
        aw.clock.now = now_ms() + 601 * SECOND
        t = aw.power(t, [2500.0] * 4)
        assert len(aw.alerts()) == 2
        t = aw.power(t, [1500.0] * 8 + [2500.0] * 8)
        newest = aw.alerts()[0]
        assert (newest["status"], newest["quiet"]) == ("open", None) and len(aw.alerts()) == 3
        assert len(aw.received) == 2


def test_an_overload_rule_with_relay_off_sends_one_relay_off_command_to_the_meter(services: Services) -> None:
    with alert_world(services) as aw:
        params = {"quantity": "power", "direction": "above", "trigger": 3000, "clear": 2500}
        rule = aw.rule(name="Overload", kind="threshold", params=params, relay_off=True, device_id=aw.world.meter_a)
        t = now_ms() - 600 * SECOND
        t = aw.power(t, [1000.0, 3500.0, 3600.0, 2800.0, 3700.0])  # a repeat while open: still one command
        (alert,) = aw.alerts()
        assert alert["message"].endswith("; the meter was told to switch its relay off")
        assert alert["repeat_count"] == 2
        commands = aw.ok("GET", f"/api/v1/devices/{aw.world.meter_a}/commands")
        assert [(c["id"], c["action"], c["requested_by"]) for c in commands] == [
            (alert["command_id"], "relay_off", f"alert rule {rule['id']}")
        ]
        # the meter receives it in the answer to its next upload
        answer = aw.world.ingest([{"ts": t, "power": 10.0}])
        assert answer["commands"] == [{"id": str(alert["command_id"]), "action": "relay_off"}]


def _finding(aw: AlertWorld, kind: str, score: float, suppressed_by: int | None = None) -> dict[str, Any]:
    """A finding stored as the detectors store it, and published as they publish it."""
    start = now_ms() - 1800 * SECOND
    new = finding_store.NewFinding(
        aw.world.meter_a, kind, start, start + 600 * SECOND, score, "3.1 kW more than usual at 02:00", {}, suppressed_by
    )
    found = aw.world.services.writer.run(lambda conn: finding_store.add_finding(conn, new)).to_dict()
    aw.publish("findings", [found])
    return found  # type: ignore[no-any-return]


def test_a_finding_alert_notifies_a_suppressed_one_does_not_and_ignore_teaches_the_detectors(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        aw.rule(
            name="Unusual use",
            kind="finding",
            params={"kinds": ["anomaly"], "min_score": 0.5},
            channel_ids=[hook],
            cooldown_s=0,
        )
        first = _finding(aw, "anomaly", 0.9)
        _finding(aw, "anomaly", 0.2)  # below the rule's score: nothing
        _finding(aw, "theft", 0.9)  # another kind: nothing
        (alert,) = aw.alerts()
        assert (alert["finding_id"], alert["status"], alert["kind"]) == (first["id"], "open", "finding")
        assert alert["message"] == "main (Home A): Anomaly: 3.1 kW more than usual at 02:00"
        assert len(aw.received) == 1
        _finding(aw, "anomaly", 0.8)  # another while the alert waits for a person: counted, not sent
        (alert,) = aw.alerts()
        assert alert["repeat_count"] == 2 and len(aw.received) == 1

        # the owner says it is normal: the alert is ignored and the finding gets the verdict Ignore
        feedback: list[Any] = []
        services.bus.on("feedback", lambda message: feedback.append(message.payload))
        ignored = aw.ok("POST", f"/api/v1/alerts/{alert['id']}/ignore")
        assert (ignored["status"], ignored["ignored_by"]) == ("ignored", "admin")
        judged = aw.ok("GET", f"/api/v1/findings/{first['id']}")
        assert (judged["verdict"], judged["status"], judged["verdict_by"]) == ("ignore", "ignored", "admin")
        assert [f["id"] for f in feedback] == [first["id"]]

        # the same pattern again arrives ignored (the detectors suppressed it): stored, no notice
        repeat = _finding(aw, "anomaly", 0.9, suppressed_by=first["id"])
        quiet = [a for a in aw.alerts() if a["finding_id"] == repeat["id"]]
        assert [(a["status"], a["quiet"]) for a in quiet] == [("ignored", "ignored pattern")]
        assert len(aw.received) == 1

        # a new finding raised; the owner confirms it on the findings page: its alert follows
        other = _finding(aw, "anomaly", 0.95)
        (raised,) = [a for a in aw.alerts() if a["finding_id"] == other["id"]]
        assert raised["status"] == "open" and len(aw.received) == 2
        aw.ok("POST", f"/api/v1/findings/{other['id']}/feedback", json={"verdict": "raise"})
        aw.engine.flush()
        confirmed = aw.ok("GET", f"/api/v1/alerts/{raised['id']}")
        assert (confirmed["status"], confirmed["confirmed_by"]) == ("confirmed", "admin")
        # a later change of mind on the findings page leaves a confirmed alert as it is
        aw.ok("POST", f"/api/v1/findings/{other['id']}/feedback", json={"verdict": "ignore"})
        aw.engine.flush()
        assert aw.ok("GET", f"/api/v1/alerts/{raised['id']}")["status"] == "confirmed"
        assert not [r for r in caplog.records if r.name.startswith("wattwise.alerts") and r.levelname == "ERROR"]
        # once confirmed it is dealt with: the next finding is a new alert, sent
        _finding(aw, "anomaly", 0.9)
        assert aw.alerts()[0]["status"] == "open" and len(aw.received) == 3


def test_a_finding_its_detector_closes_resolves_its_alert(services: Services) -> None:
    """A balance loss whose detector can no longer follow it (the interval changed) is closed:
    the alert waiting on it is resolved by the detector, not left for ever."""
    with alert_world(services) as aw:
        aw.rule(name="Loss", kind="finding", params={"kinds": ["balance_loss"], "min_score": 0.5}, cooldown_s=0)
        found = _finding(aw, "balance_loss", 1.4)
        (alert,) = aw.alerts()
        assert alert["status"] == "open"
        closed = aw.world.services.writer.run(
            lambda conn: finding_store.close_open(conn, aw.world.meter_a, "balance_loss", found["start_ts"], "why")
        )
        aw.publish("findings", [f.to_dict() for f in closed])
        resolved = aw.ok("GET", f"/api/v1/alerts/{alert['id']}")
        assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "detector")


def test_bad_rule_bodies_are_refused_naming_the_field(services: Services) -> None:
    with alert_world(services) as aw:
        w = aw.world
        other_site_channel = aw.channel(site_id=w.site_b)

        def refused(body: dict[str, Any]) -> str:
            answer = aw.client.post(
                "/api/v1/alert-rules", json={"site_id": w.site_a, "name": "r", **body}, headers=w.auth()
            )
            assert answer.status_code == 422, answer.text
            detail = answer.json()["detail"]
            return detail if isinstance(detail, str) else ".".join(str(p) for p in detail[0]["loc"])

        threshold = {"kind": "threshold", "params": OVER_POWER}
        assert refused({"kind": "threshold", "params": {**OVER_POWER, "clear": 2500}}).startswith("params.clear:")
        assert refused({"kind": "threshold", "params": {**OVER_POWER, "trigger": "lots"}}).startswith("params.trigger:")
        assert refused({"kind": "offline", "params": {}}).startswith("params.after_s:")
        assert refused({"kind": "weather", "params": {}}) == "body.kind"
        assert refused({**threshold, "cooldown_s": -1}) == "body.cooldown_s"
        assert refused({**threshold, "colour": "red"}) == "body.colour"
        sag = {"kind": "threshold", "params": {"quantity": "voltage", "direction": "below", "trigger": 200}}
        assert refused({**sag, "relay_off": True}).startswith("relay_off:")
        assert refused({**threshold, "channel_ids": [other_site_channel]}).startswith("channel_ids:")
        assert refused({**threshold, "device_id": w.meter_b}).startswith("device_id:")
        assert refused({"kind": "budget", "params": {"used_pct": 80}, "device_id": w.meter_a}).startswith("device_id:")
        assert aw.alerts() == [] and aw.ok("GET", "/api/v1/alert-rules") == []


def test_owners_set_rules_viewers_only_look_and_other_sites_stay_hidden(services: Services) -> None:
    with alert_world(services) as aw:
        w = aw.world
        rule = aw.rule(kind="offline", params={"after_s": 600})
        viewer = w.auth(w.viewer_token)
        assert aw.client.get("/api/v1/alert-rules", headers=viewer).json() == [rule]
        body = {"site_id": w.site_a, "name": "r", "kind": "offline", "params": {"after_s": 60}}
        assert aw.client.post("/api/v1/alert-rules", json=body, headers=viewer).status_code == 403
        assert aw.client.delete(f"/api/v1/alert-rules/{rule['id']}", headers=viewer).status_code == 403
        b_rule = aw.rule(site_id=w.site_b, kind="offline", params={"after_s": 600})
        assert aw.client.get(f"/api/v1/alert-rules/{b_rule['id']}", headers=viewer).status_code == 404

        changed = aw.ok("PUT", f"/api/v1/alert-rules/{rule['id']}", json={**body, "enabled": False})
        assert (changed["params"], changed["enabled"]) == ({"after_s": 60}, False)
        moved = aw.client.put(f"/api/v1/alert-rules/{rule['id']}", json={**body, "site_id": w.site_b}, headers=w.auth())
        assert moved.status_code == 422 and moved.json()["detail"].startswith("site_id:")

        aw.rule(kind="threshold", params=OVER_POWER)
        aw.power(now_ms() - 600 * SECOND, [2500.0] * 8)
        (alert,) = aw.alerts()
        assert aw.client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=viewer).status_code == 403
        assert aw.client.get("/api/v1/alerts", headers=viewer).json()[0]["id"] == alert["id"]
        assert aw.client.post(f"/api/v1/alerts/{alert['id']}/snooze", headers=w.auth()).status_code == 422
        bad = aw.client.get("/api/v1/alerts", params={"status": "closed"}, headers=w.auth())
        assert bad.status_code == 422 and bad.json()["detail"].startswith("status:")

        assert aw.client.delete(f"/api/v1/alert-rules/{rule['id']}", headers=w.auth()).status_code == 204
        assert aw.client.get(f"/api/v1/alert-rules/{rule['id']}", headers=w.auth()).status_code == 404

        # switching the over-power rule off resolves its alert (nothing else would)
        over = aw.ok("GET", f"/api/v1/alert-rules/{alert['rule_id']}")
        fields = {k: over[k] for k in ("site_id", "device_id", "name", "kind", "params", "channel_ids", "cooldown_s")}
        aw.ok("PUT", f"/api/v1/alert-rules/{over['id']}", json={**fields, "enabled": False})
        (alert,) = aw.alerts()
        assert (alert["status"], alert["resolved_by"]) == ("resolved", "rule disabled")


def test_a_channel_test_notice_reaches_the_receiver_and_a_dead_channel_says_why(services: Services) -> None:
    with alert_world(services) as aw:
        hook = aw.channel()
        sent = aw.ok("POST", f"/api/v1/alert-channels/{hook}/test")
        assert sent == {"channel_id": hook, "ok": True, "error": None}
        assert [n["title"] for n in aw.received] == ["Wattwise: test notice"]

        port = free_port()
        dead = aw.channel(url=f"http://127.0.0.1:{port}/nobody?token=s3cret")
        failed = aw.ok("POST", f"/api/v1/alert-channels/{dead}/test")
        assert failed == {"channel_id": dead, "ok": False, "error": f"Webhook: connection refused (127.0.0.1:{port})"}
        shown = aw.ok("GET", f"/api/v1/alert-channels/{dead}")
        assert [(d["ok"], d["error"]) for d in shown["deliveries"]] == [(False, failed["error"])]
        # never shown back in full: a webhook's path and query may hold a token
        assert shown["config"] == {"url": f"http://127.0.0.1:{port}/***", "headers": {}}

        bad = {"site_id": aw.world.site_a, "name": "x", "kind": "ntfy", "config": {"topic": "no spaces allowed"}}
        refused = aw.client.post("/api/v1/alert-channels", json=bad, headers=aw.world.auth())
        assert refused.status_code == 422 and refused.json()["detail"].startswith("ntfy.topic:")
        bad = {**bad, "kind": "pager", "config": {}}
        refused = aw.client.post("/api/v1/alert-channels", json=bad, headers=aw.world.auth())
        assert refused.status_code == 422 and refused.json()["detail"].startswith("kind:")

        # a deleted channel leaves the rules that sent to it
        rule = aw.rule(kind="offline", params={"after_s": 60}, channel_ids=[hook, dead])
        assert aw.client.delete(f"/api/v1/alert-channels/{dead}", headers=aw.world.auth()).status_code == 204
        assert aw.ok("GET", f"/api/v1/alert-rules/{rule['id']}")["channel_ids"] == [hook]


def test_a_channel_edited_as_shown_keeps_its_secrets_and_still_delivers(services: Services) -> None:
    with alert_world(services) as aw:
        secret_url = f"{aw.hook_url}?token=s3cret"
        body = {
            "site_id": aw.world.site_a,
            "name": "hook",
            "kind": "webhook",
            "config": {"url": secret_url, "headers": {"X-Key": "k3y"}},
        }
        hook = aw.ok("POST", "/api/v1/alert-channels", json=body)["id"]
        shown = aw.ok("GET", f"/api/v1/alert-channels/{hook}")
        assert "s3cret" not in str(shown) and "k3y" not in str(shown)

        # a client (or the dashboard's form) sends back what it was shown, with a new name
        renamed = aw.ok(
            "PUT", f"/api/v1/alert-channels/{hook}", json={**body, "name": "renamed", "config": shown["config"]}
        )
        assert renamed["name"] == "renamed"
        assert aw.ok("POST", f"/api/v1/alert-channels/{hook}/test")["ok"] is True
        assert aw.received_requests[-1]["path"].endswith("?token=s3cret")
        assert aw.received_requests[-1]["headers"]["X-Key"] == "k3y"

        # a secret typed anew replaces the old one
        body["config"] = {**shown["config"], "headers": {"X-Key": "new"}}
        aw.ok("PUT", f"/api/v1/alert-channels/{hook}", json=body)
        aw.ok("POST", f"/api/v1/alert-channels/{hook}/test")
        assert aw.received_requests[-1]["headers"]["X-Key"] == "new"


def test_a_rule_number_that_is_not_finite_is_refused_naming_the_field(services: Services) -> None:
    """JSON as Python reads it admits NaN and Infinity; a rule holding one would never fire
    (or, for ``for_s``, stop every rule's step), and REST would show it back as null."""
    with alert_world(services) as aw:
        w = aw.world
        site = w.site_a
        bodies = {
            "params.for_s": '{"quantity": "power", "direction": "above", "trigger": 2000, "for_s": Infinity}',
            "params.trigger": '{"quantity": "power", "direction": "above", "trigger": NaN}',
            "params.after_s": '{"after_s": Infinity}',
        }
        for field, params in bodies.items():
            kind = "offline" if "after_s" in params else "threshold"
            content = f'{{"site_id": {site}, "name": "r", "kind": "{kind}", "params": {params}}}'
            answer = aw.client.post(
                "/api/v1/alert-rules", content=content, headers={**w.auth(), "content-type": "application/json"}
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["detail"].startswith(f"{field}: must be a finite number")
        assert aw.ok("GET", "/api/v1/alert-rules") == []

        # a sound rule beside them still fires
        aw.rule(kind="threshold", params=OVER_POWER)
        aw.power(now_ms() - 600 * SECOND, [2500.0] * 8)
        assert [a["status"] for a in aw.alerts()] == ["open"]


def test_a_rule_moved_off_a_meter_or_to_another_kind_resolves_the_alerts_it_no_longer_watches(
    services: Services,
) -> None:
    """Nothing would resolve them otherwise: the rule no longer steps on that meter (or that kind)."""
    with alert_world(services) as aw:
        w = aw.world
        garage = w.services.writer.run(lambda conn: create_device(conn, site_id=w.site_a, name="garage"))
        rule = aw.rule(name="Heater", kind="threshold", params=OVER_POWER)
        t = aw.power(now_ms() - 3600 * SECOND, [2500.0] * 8)
        (alert,) = aw.alerts()
        assert (alert["device_id"], alert["status"]) == (w.meter_a, "open")

        fields = {k: rule[k] for k in ("site_id", "name", "kind", "params", "channel_ids", "cooldown_s")}
        aw.ok("PUT", f"/api/v1/alert-rules/{rule['id']}", json={**fields, "device_id": garage.device.id})
        aw.power(t, [1000.0] * 8)
        (alert,) = aw.alerts()
        assert (alert["status"], alert["resolved_by"]) == ("resolved", "rule changed")

        # a rule that becomes another kind (over power → the site's budget) leaves its old alert too
        other = aw.rule(name="Heater 2", kind="threshold", params=OVER_POWER, device_id=w.meter_a)
        t = aw.power(t + 600 * SECOND, [2500.0] * 8)
        (raised,) = [a for a in aw.alerts() if a["rule_id"] == other["id"]]
        fields = {k: other[k] for k in ("site_id", "name", "channel_ids", "cooldown_s")}
        budget = {**fields, "kind": "budget", "params": {"used_pct": 80}}
        aw.ok("PUT", f"/api/v1/alert-rules/{other['id']}", json=budget)
        shown = aw.ok("GET", f"/api/v1/alerts/{raised['id']}")
        assert (shown["status"], shown["resolved_by"]) == ("resolved", "rule changed")


def test_a_kept_secret_is_not_sent_to_a_server_the_channel_was_moved_to(services: Services) -> None:
    """A masked secret sent back stays only while the channel goes where it went: otherwise
    anyone who may edit the channel could read it off a server of their own."""
    with alert_world(services) as aw, receiver() as (other_url, _, other_requests):
        body = {
            "site_id": aw.world.site_a,
            "name": "hook",
            "kind": "webhook",
            "config": {"url": aw.hook_url, "headers": {"X-Key": "k3y"}},
        }
        hook = aw.ok("POST", "/api/v1/alert-channels", json=body)["id"]
        shown = aw.ok("GET", f"/api/v1/alert-channels/{hook}")["config"]
        assert shown["headers"] == {"X-Key": "***"}

        moved = {**body, "config": {**shown, "url": other_url}}
        refused = aw.client.put(f"/api/v1/alert-channels/{hook}", json=moved, headers=aw.world.auth())
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith("webhook.headers.X-Key: type it again")
        aw.ok("POST", f"/api/v1/alert-channels/{hook}/test")
        assert other_requests == [] and aw.received_requests[-1]["headers"]["X-Key"] == "k3y"

        # typed again, it goes there
        aw.ok(
            "PUT",
            f"/api/v1/alert-channels/{hook}",
            json={**moved, "config": {"url": other_url, "headers": {"X-Key": "n3w"}}},
        )
        aw.ok("POST", f"/api/v1/alert-channels/{hook}/test")
        assert [r["headers"]["X-Key"] for r in other_requests] == ["n3w"]

        mail = {
            "site_id": aw.world.site_a,
            "name": "mail",
            "kind": "email",
            "config": {
                "host": "mail.example.org",
                "username": "me",
                "password": "pw",
                "from": "a@example.org",
                "to": ["b@example.org"],
            },
        }
        mailer = aw.ok("POST", "/api/v1/alert-channels", json=mail)["id"]
        shown = aw.ok("GET", f"/api/v1/alert-channels/{mailer}")["config"]
        renamed = aw.ok("PUT", f"/api/v1/alert-channels/{mailer}", json={**mail, "name": "renamed", "config": shown})
        assert renamed["config"]["password"] == "***"
        for change in ({"host": "127.0.0.1"}, {"tls": "none", "port": 587}):
            refused = aw.client.put(
                f"/api/v1/alert-channels/{mailer}",
                json={**mail, "config": {**shown, **change}},
                headers=aw.world.auth(),
            )
            assert refused.status_code == 422 and refused.json()["detail"].startswith("email.password: type it again")


def an_owner_of_site_a(aw: AlertWorld) -> dict[str, str]:
    """A new user who owns site A (sets its channels) but is no administrator: their headers."""

    def add(conn: Connection) -> str:
        owner = create_user(conn, "owner", "owner-password")
        grant(conn, owner.id, aw.world.site_a, "owner")
        return create_token(conn, owner.id, "tests")

    return aw.world.auth(aw.world.services.writer.run(add))


def test_an_ntfy_topic_is_shown_only_to_administrators_and_kept_when_sent_back_masked(services: Services) -> None:
    """Whoever knows an ntfy topic reads its notices: owners and viewers see it masked, as a
    password, and an owner's edit sent back as shown keeps it while the server stays."""
    with alert_world(services) as aw, receiving() as ntfy, receiving() as elsewhere:
        server = ntfy.url  # a local receiver stands in for the ntfy server
        body = {
            "site_id": aw.world.site_a,
            "name": "phones",
            "kind": "ntfy",
            "config": {"server_url": server, "topic": "wattwise-home-5f3a"},
        }
        channel = aw.ok("POST", "/api/v1/alert-channels", json=body)
        assert channel["config"]["topic"] == "wattwise-home-5f3a"  # the administrator who set it
        owner, viewer = an_owner_of_site_a(aw), aw.world.auth(aw.world.viewer_token)
        path = f"/api/v1/alert-channels/{channel['id']}"
        for who in (owner, viewer):
            (listed,) = aw.client.get("/api/v1/alert-channels", headers=who).json()
            one = aw.client.get(path, headers=who).json()
            assert listed["config"]["topic"] == one["config"]["topic"] == "***"
            assert "wattwise-home-5f3a" not in str(listed) + str(one)

        shown = listed["config"]
        renamed = aw.client.put(path, json={**body, "name": "our phones", "config": shown}, headers=owner)
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["config"]["topic"] == "***"
        assert aw.client.post(f"{path}/test", headers=owner).json()["ok"] is True
        assert ntfy.requests[-1].json()["topic"] == "wattwise-home-5f3a"  # still where the phones listen

        moved = {**body, "config": {**shown, "server_url": elsewhere.url}}
        refused = aw.client.put(path, json=moved, headers=owner)
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("ntfy.topic: type it again: the channel now goes to another server")
        aw.ok("POST", f"{path}/test")
        assert elsewhere.requests == [] and ntfy.requests[-1].json()["topic"] == "wattwise-home-5f3a"


def test_a_channel_changing_kind_with_a_secret_still_masked_is_refused_naming_it(services: Services) -> None:
    """A masked secret stands for the stored one of the same kind: a Telegram channel turned
    into ntfy with the bot token's mask as the ntfy token would store the mask as the token."""
    with alert_world(services) as aw, receiving() as ntfy:
        body = {
            "site_id": aw.world.site_a,
            "name": "family",
            "kind": "telegram",
            "config": {"bot_token": "123456789:AAH-real", "chat_id": "-100123"},
        }
        channel = aw.ok("POST", "/api/v1/alert-channels", json=body)["id"]
        server = ntfy.url
        as_ntfy = {**body, "kind": "ntfy", "config": {"server_url": server, "topic": "family", "token": "***"}}
        refused = aw.client.put(f"/api/v1/alert-channels/{channel}", json=as_ntfy, headers=aw.world.auth())
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            "ntfy.token: type its real value: the channel was Telegram, "
            "and *** keeps a secret only while its kind stays"
        )
        as_webhook = {**body, "kind": "webhook", "config": {"url": aw.hook_url, "headers": {"Authorization": "***"}}}
        refused = aw.client.put(f"/api/v1/alert-channels/{channel}", json=as_webhook, headers=aw.world.auth())
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("webhook.headers.Authorization: type its real value")
        shown = aw.ok("GET", f"/api/v1/alert-channels/{channel}")
        assert (shown["kind"], shown["config"]["chat_id"]) == ("telegram", "-100123")  # left as it was

        # with the real token typed, it becomes an ntfy channel and publishes with that token
        aw.ok(
            "PUT",
            f"/api/v1/alert-channels/{channel}",
            json={**as_ntfy, "config": {**as_ntfy["config"], "token": "tk_real"}},
        )
        assert aw.ok("POST", f"/api/v1/alert-channels/{channel}/test")["ok"] is True
        assert ntfy.requests[-1].headers["Authorization"] == "Bearer tk_real"

        # nor does a new channel take the mask for a secret (copied from what REST showed)
        copy = {**body, "config": {"bot_token": "***", "chat_id": "-100123"}}
        refused = aw.client.post("/api/v1/alert-channels", json=copy, headers=aw.world.auth())
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("telegram.bot_token: type its real value: *** keeps a stored secret")


def test_an_id_past_what_the_database_holds_is_a_clear_4xx_on_sqlite_and_postgresql(services: Services) -> None:
    """PostgreSQL's integer column refused 3000000000 with a 500 where SQLite answered 404."""
    with alert_world(services) as aw:
        w = aw.world
        for path, name in (
            ("/api/v1/alerts/3000000000", "alert_id"),
            ("/api/v1/alert-rules/3000000000", "rule_id"),
            ("/api/v1/devices/3000000000", "device_id"),
            ("/api/v1/alerts?site_id=3000000000", "site_id"),
            (f"/api/v1/alerts?site_id={2**70}", "site_id"),
        ):
            answer = aw.client.get(path, headers=w.auth())
            assert answer.status_code in (404, 422), (path, answer.text)
            detail = answer.json()["detail"]
            assert detail.startswith(f"{name}: ") or detail.startswith("no "), (path, detail)
        body = {"site_id": w.site_a, "name": "r", "kind": "offline", "params": {"after_s": 60}}
        answer = aw.client.post("/api/v1/alert-rules", json={**body, "channel_ids": [3_000_000_000]}, headers=w.auth())
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "channel_ids", 0]


def test_a_blank_rule_or_channel_name_is_refused_naming_it(services: Services) -> None:
    """A name is a notice's title and what the dashboard lists: spaces alone name nothing."""
    with alert_world(services) as aw:
        w = aw.world
        rule = {"site_id": w.site_a, "name": "   ", "kind": "offline", "params": {"after_s": 60}}
        answer = aw.client.post("/api/v1/alert-rules", json=rule, headers=w.auth())
        assert answer.status_code == 422 and answer.json()["detail"].startswith("name:"), answer.text
        channel = {"site_id": w.site_a, "name": " \t", "kind": "webhook", "config": {"url": aw.hook_url}}
        answer = aw.client.post("/api/v1/alert-channels", json=channel, headers=w.auth())
        assert answer.status_code == 422 and answer.json()["detail"].startswith("name:"), answer.text
        assert aw.ok("GET", "/api/v1/alert-rules") == [] and aw.ok("GET", "/api/v1/alert-channels") == []
        # a name with spaces around is kept without them
        saved = aw.rule(name="  Offline  ", kind="offline", params={"after_s": 60})
        assert saved["name"] == "Offline"
