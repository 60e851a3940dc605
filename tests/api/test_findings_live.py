"""Findings live: readings posted to the API become findings a person can judge.

Energy balance: a main meter with two sub-meters; a persistent 20 % of the main meter's
energy that no sub-meter sees is flagged, a balanced site stays quiet. Grid: a sag, a
swell, an under-frequency spell and a grid surge are told apart from a kettle switching on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.live_world import LiveWorld, live_world
from wattwise.detectors import Detectors, DetectorSettings
from wattwise.runtime import Services
from wattwise.store.devices import create_device, set_role

T0 = 1_763_942_400_000  # 2025-11-24 00:00 UTC
MINUTE = 60_000
BALANCE = DetectorSettings(balance_interval_ms=5 * MINUTE, balance_learn_intervals=12)


def findings_of(live: LiveWorld, meter: int, **params: Any) -> list[dict[str, Any]]:
    return live.get("/api/v1/findings", device_id=meter, **params)  # type: ignore[no-any-return]


def add_subs(live: LiveWorld, main: int, site: int, names: tuple[str, ...]) -> list[tuple[int, str]]:
    services = live.world.services
    with services.engine.begin() as conn:
        set_role(conn, main, role="main")
        subs = [create_device(conn, site_id=site, name=n) for n in names]
        for s in subs:
            set_role(conn, s.device.id, role="sub", parent_id=main)
    return [(s.device.id, s.key) for s in subs]


def site_readings(
    loss: float, hours: int, seed: int, first_hour: int = 0
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """A main meter and two sub-meters every minute; the main reads an unmetered 100 W base,
    plus ``loss`` of its own energy from the second hour on (a hooked line)."""
    rng = np.random.default_rng(seed)
    n = hours * 60
    minute = np.arange(first_hour * 60, first_hour * 60 + n)
    ts = T0 + MINUTE * (minute + 1)
    subs = [
        500 + 300 * np.sin(minute / 37.0) ** 2 + rng.normal(0, 10, n),
        300 + 200 * (minute % 90 < 40) + rng.normal(0, 8, n),
    ]
    honest = subs[0] + subs[1] + 100 + rng.normal(0, 5, n)
    main = np.where(minute >= 60, honest / (1 - loss), honest)
    rows = [
        [{"ts": int(t), "power": round(float(p), 1), "voltage": 230.0} for t, p in zip(ts, s, strict=True)]
        for s in subs
    ]
    main_rows = [{"ts": int(t), "power": round(float(p), 1), "voltage": 230.0} for t, p in zip(ts, main, strict=True)]
    return main_rows, rows


def test_energy_balance_flags_a_persistent_loss_and_stays_quiet_when_it_adds_up(services: Services) -> None:
    with live_world(services, BALANCE) as live:
        w = live.world
        lossy = add_subs(live, w.meter_a, w.site_a, ("kitchen", "rooms"))
        balanced = add_subs(live, w.meter_b, w.site_b, ("kitchen", "rooms"))
        live.detectors.refresh()  # the detectors learn the new main/sub roles
        assert live.get(f"/api/v1/devices/{w.meter_b}/balance")["state"] == "not_started"

        for main_key, subs, loss, seed in ((w.key_a, lossy, 0.20, 1), (w.key_b, balanced, 0.0, 2)):
            main_rows, sub_rows = site_readings(loss, hours=4, seed=seed)
            live.post(main_rows, key=main_key)
            for (_, key), rows in zip(subs, sub_rows, strict=True):
                live.post(rows, key=key)
        live.detectors.flush()

        (loss,) = findings_of(live, w.meter_a, kind="balance_loss")
        assert loss["status"] == "open"
        assert loss["start_ts"] <= T0 + 75 * MINUTE, "found within a quarter hour of the loss starting"
        assert "not accounted for by the sub-meters" in loss["reason"]
        share = loss["detail"]["missing_wh"] / loss["detail"]["main_wh"]
        assert 0.15 < share < 0.22
        assert findings_of(live, w.meter_b, kind="balance_loss") == []
        watching = live.get(f"/api/v1/devices/{w.meter_b}/balance")
        assert watching["state"] == "watching"
        assert watching["reason"].startswith("Watching for losses: the sub-meters see 9")
        assert watching["min_detectable_share"] < 0.05
        lossy_balance = live.get(f"/api/v1/devices/{w.meter_a}/balance", token=w.viewer_token)
        assert lossy_balance["state"] == "watching" and lossy_balance["alarmed"] is True
        not_main = w.client.get(f"/api/v1/devices/{balanced[0][0]}/balance", headers=w.auth())
        assert not_main.status_code == 409 and "not a main meter" in not_main.json()["detail"]

        # the site's viewer sees it; the other site's meter is not theirs
        assert live.get("/api/v1/findings", token=w.viewer_token, kind="balance_loss") == [loss]
        assert live.get(f"/api/v1/findings/{loss['id']}", token=w.viewer_token)["id"] == loss["id"]
        denied = w.client.post(
            f"/api/v1/findings/{loss['id']}/feedback", json={"verdict": "ignore"}, headers=w.auth(w.viewer_token)
        )
        assert denied.status_code == 403
        assert w.client.get("/api/v1/findings", params={"kind": "nonsense"}, headers=w.auth()).status_code == 422

        # the owner knows: it is the water pump on the roof, not metered. Ignore teaches the
        # balance that this surplus is the site's normal base; the same surplus stays quiet.
        answer = w.client.post(f"/api/v1/findings/{loss['id']}/feedback", json={"verdict": "ignore"}, headers=w.auth())
        assert answer.status_code == 200 and answer.json()["status"] == "ignored"
        live.detectors.flush()
        main_rows, sub_rows = site_readings(0.20, hours=3, seed=3, first_hour=4)
        live.post(main_rows, key=w.key_a)
        for (_, key), rows in zip(lossy, sub_rows, strict=True):
            live.post(rows, key=key)
        live.detectors.flush()
        assert findings_of(live, w.meter_a, kind="balance_loss", status="open") == []


def test_a_site_whose_unmetered_loads_swing_is_told_the_balance_cannot_watch(services: Services) -> None:
    with live_world(services, BALANCE) as live:
        w = live.world
        subs = add_subs(live, w.meter_a, w.site_a, ("kitchen", "rooms"))
        live.detectors.refresh()
        main_rows, sub_rows = site_readings(0.0, hours=4, seed=5)
        rng = np.random.default_rng(5)
        heater = np.repeat(rng.choice([0.0, 1500.0, 3000.0], size=len(main_rows) // 10 + 1), 10)
        for row, extra in zip(main_rows, heater, strict=False):
            row["power"] = round(row["power"] + float(extra), 1)  # an unmetered heater, on and off
        live.post(main_rows, key=w.key_a)
        for (_, key), rows in zip(subs, sub_rows, strict=True):
            live.post(rows, key=key)
        live.detectors.flush()

        answer = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert answer["state"] == "not_watching"
        assert "Put the largest unmetered loads on sub-meters" in answer["reason"]
        assert findings_of(live, w.meter_a, kind="balance_loss") == []


def grid_readings() -> list[dict[str, Any]]:
    """A 230 V / 50 Hz supply every 2 s with a kettle, a sag, a swell, a low-frequency spell and a surge."""
    rows = []
    for i in range(600):
        v, f, p = 231.0 + 0.3 * np.sin(i / 7), 50.0, 400.0
        if 100 <= i < 160:
            p, v = 2400.0, v - 3.0  # a kettle: power up, voltage sags a little
        if 200 <= i < 203:
            v = 195.0  # a sag to 85 %
        if 300 <= i < 302:
            v = 258.0  # a swell
        if 400 <= i < 410:
            f = 49.3
        if i >= 500:
            v += 9.0  # the grid steps up; a resistive load follows
            p = 400.0 * ((v / (v - 9.0)) ** 2)
        rows.append({"ts": T0 + 2000 * i, "voltage": round(v, 1), "frequency": f, "power": round(p, 1)})
    return rows


def test_grid_events_and_a_surge_are_told_from_a_load_switching_on(sqlite_services: Services) -> None:
    with live_world(sqlite_services) as live:
        w = live.world
        rows = grid_readings()
        for i in range(0, len(rows), 37):  # as a gateway would, in small uneven batches
            live.post(rows[i : i + 37])
        live.detectors.flush()
        found = sorted(findings_of(live, w.meter_a), key=lambda f: f["start_ts"])
        kinds = [f["kind"] for f in found]
        assert kinds == ["sag", "swell", "under_frequency", "grid_surge"]
        sag, swell, low_f, surge = found
        assert sag["start_ts"] == T0 + 2000 * 200 and sag["end_ts"] == T0 + 2000 * 203
        assert "voltage sag to 195 V" in sag["reason"]
        assert "swell" in swell["reason"] and swell["detail"]["extreme"] == 258.0
        assert low_f["detail"]["extreme"] == 49.3
        assert "the grid voltage rose" in surge["reason"] and surge["start_ts"] == T0 + 2000 * 500
        assert all(f["status"] == "open" for f in found)


def post_site(live: LiveWorld, main_key: str, subs: list[tuple[int, str]], readings: tuple[Any, Any]) -> None:
    main_rows, sub_rows = readings
    live.post(main_rows, key=main_key)
    for (_, key), rows in zip(subs, sub_rows, strict=True):
        live.post(rows, key=key)


def test_a_period_vouched_clean_teaches_the_base_and_a_later_loss_is_then_seen(services: Services) -> None:
    """The first hour, which teaches the base, had a contractor's 600 W heater on the main
    meter; the base learned from it hides a later 20 % loss. The owner vouches for hours 1
    to 3 (clean): the base is learned from them, and the loss is raised on that site, not
    on its twin whose owner did not vouch."""
    with live_world(services, BALANCE) as live:
        w = live.world
        vouched, twin = (
            add_subs(live, w.meter_a, w.site_a, ("kitchen", "rooms")),
            add_subs(live, w.meter_b, w.site_b, ("kitchen", "rooms")),
        )
        live.detectors.refresh()
        clean_hours = site_readings(0.0, hours=3, seed=4)
        for row in clean_hours[0][:60]:
            row["power"] = round(row["power"] + 600.0, 1)  # the heater, not metered by any sub-meter
        for main_key, subs in ((w.key_a, vouched), (w.key_b, twin)):
            post_site(live, main_key, subs, clean_hours)
        live.detectors.flush()
        before = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert before["state"] == "watching" and before["base_wh_per_interval"] > 55  # 700 W for 5 min: 58 Wh
        assert "clean_period" not in before

        def vouch(device: int, since: int, until: int, token: str | None = None) -> Any:
            return w.client.put(
                f"/api/v1/devices/{device}/balance/clean-period",
                json={"since": since, "until": until},
                headers=w.auth(token),
            )

        hours = (T0 + 60 * MINUTE, T0 + 180 * MINUTE)
        assert vouch(w.meter_a, *hours, token=w.viewer_token).status_code == 403
        assert vouch(vouched[0][0], *hours).status_code == 409, "a sub-meter has no balance of its own"
        assert vouch(999_999, *hours).status_code == 404
        backwards = vouch(w.meter_a, hours[1], hours[0])
        assert backwards.status_code == 422 and backwards.json()["detail"].startswith("until: must be after since")
        short = vouch(w.meter_a, hours[0], hours[0] + 30 * MINUTE)
        assert short.status_code == 422 and "has 6 intervals of 5 min" in short.json()["detail"]
        unread = vouch(w.meter_a, T0 + 10 * 60 * MINUTE, T0 + 12 * 60 * MINUTE)
        assert unread.status_code == 422 and "has 0 intervals" in unread.json()["detail"]

        answer = vouch(w.meter_a, *hours)
        assert answer.status_code == 200, answer.text
        taught = answer.json()
        assert taught["intervals"] == 24 and taught["state"] == "watching"
        assert 6 < taught["base_wh_per_interval"] < 11  # the 100 W base: 8.3 Wh in 5 min
        live.detectors.flush()
        after = live.get(f"/api/v1/devices/{w.meter_a}/balance", token=w.viewer_token)
        assert after["base_wh_per_interval"] == taught["base_wh_per_interval"]
        assert after["clean_period"] == {"since": hours[0], "until": hours[1], "at": taught["at"], "applied": True}

        lossy = site_readings(0.20, hours=3, seed=6, first_hour=3)  # a hooked line from hour 3
        for main_key, subs in ((w.key_a, vouched), (w.key_b, twin)):
            post_site(live, main_key, subs, lossy)
        live.detectors.flush()
        (loss,) = findings_of(live, w.meter_a, kind="balance_loss")
        assert loss["status"] == "open" and loss["start_ts"] <= T0 + 195 * MINUTE
        assert findings_of(live, w.meter_b, kind="balance_loss") == [], "the heater's base hides it"

        # a restart: the balance goes on from the vouched base, and does not learn it again
        live.restart()
        live.detectors.refresh()
        assert live.get(f"/api/v1/devices/{w.meter_a}/balance")["clean_period"]["applied"] is True

        # vouched again while no detector runs: learnt when they next load the group
        live.detectors()
        again = vouch(w.meter_a, *hours)
        assert again.status_code == 200, again.text
        assert live.get(f"/api/v1/devices/{w.meter_a}/balance")["clean_period"]["applied"] is False
        live.detectors = Detectors(services, BALANCE).start()
        live.detectors.refresh()
        status = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert status["clean_period"] == {
            "since": hours[0],
            "until": hours[1],
            "at": again.json()["at"],
            "applied": True,
        }
        assert status["alarmed"] is False, "the statistic starts afresh from the vouched base"


def restart_over_quarter_hours(live: LiveWorld) -> None:
    """The detectors stop and start again with a 15-min balance interval (the deployment's setting changed)."""
    live.detectors()
    quarter_hours = DetectorSettings(balance_interval_ms=15 * MINUTE, balance_learn_intervals=12)
    live.detectors = Detectors(live.world.services, quarter_hours).start()
    live.detectors.refresh()


def first_hours_of_a_group(live: LiveWorld, loss: float, seed: int) -> list[tuple[int, str]]:
    """Meter A becomes a main meter with two sub-meters, which send two hours (``loss`` from the second)."""
    w = live.world
    subs = add_subs(live, w.meter_a, w.site_a, ("kitchen", "rooms"))
    live.detectors.refresh()
    post_site(live, w.key_a, subs, site_readings(loss, hours=2, seed=seed))
    live.detectors.flush()
    return subs


def test_a_changed_balance_interval_learns_the_base_afresh_without_a_false_loss(sqlite_services: Services) -> None:
    """WATTWISE_DETECTOR_BALANCE_INTERVAL_MS changed between two runs: the base learned per
    5 min (8.3 Wh) would read a balanced site over 15 min as 17 Wh short every interval."""
    with live_world(sqlite_services, BALANCE) as live:
        w = live.world
        subs = first_hours_of_a_group(live, 0.0, seed=8)
        before = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert before["state"] == "watching" and before["interval_ms"] == 5 * MINUTE
        assert 6 < before["base_wh_per_interval"] < 11

        restart_over_quarter_hours(live)
        relearning = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert relearning["state"] == "learning" and relearning["interval_ms"] == 15 * MINUTE
        assert relearning["reason"] == "Learning the unmetered base: 0 of 12 intervals of 15 min."

        post_site(live, w.key_a, subs, site_readings(0.0, hours=4, seed=9, first_hour=2))
        live.detectors.flush()
        after = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert after["state"] == "watching" and after["interval_ms"] == 15 * MINUTE
        assert 20 < after["base_wh_per_interval"] < 30  # the 100 W base: 25 Wh in 15 min
        assert findings_of(live, w.meter_a, kind="balance_loss") == []

        # and it still sees a hooked line
        post_site(live, w.key_a, subs, site_readings(0.2, hours=3, seed=10, first_hour=6))
        live.detectors.flush()
        (loss,) = findings_of(live, w.meter_a, kind="balance_loss")
        assert loss["start_ts"] <= T0 + (6 * 60 + 30) * MINUTE
        assert loss["detail"]["interval_ms"] == 15 * MINUTE


def test_a_loss_followed_when_the_balance_interval_changes_is_closed_saying_why(sqlite_services: Services) -> None:
    """A loss was being followed over 5-min intervals when the deployment moved to 15 min: the
    balance learns afresh and cannot follow it, so its finding is closed with the reason, and a
    later Ignore of it does not teach the new balance a surplus counted over 5 minutes."""
    with live_world(sqlite_services, BALANCE) as live:
        w = live.world
        subs = first_hours_of_a_group(live, 0.2, seed=11)
        (loss,) = findings_of(live, w.meter_a, kind="balance_loss")
        assert loss["status"] == "open" and loss["detail"]["interval_ms"] == 5 * MINUTE

        restart_over_quarter_hours(live)
        live.detectors.flush()
        (closed,) = findings_of(live, w.meter_a, kind="balance_loss")
        assert (closed["id"], closed["status"]) == (loss["id"], "closed")
        assert "interval changed from 5 to 15 min" in closed["detail"]["closed"]
        assert findings_of(live, w.meter_a, status="open") == []
        assert [f["id"] for f in findings_of(live, w.meter_a, status="closed")] == [loss["id"]]

        # the new balance learns a balanced site over 15 min; ignoring the old finding changes nothing
        post_site(live, w.key_a, subs, site_readings(0.0, hours=4, seed=12, first_hour=2))
        live.detectors.flush()
        learned = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert learned["state"] == "watching" and 20 < learned["base_wh_per_interval"] < 30
        w.client.post(
            f"/api/v1/findings/{loss['id']}/feedback", json={"verdict": "ignore"}, headers=w.auth()
        ).raise_for_status()
        live.detectors.flush()
        after = live.get(f"/api/v1/devices/{w.meter_a}/balance")
        assert after["base_wh_per_interval"] == learned["base_wh_per_interval"]
