"""Energy per local hour, day, week, month and cycle over REST, for a meter and for a site."""

from __future__ import annotations

from api.billing.meter_data import post_readings, readings, utc
from support import World
from wattwise.store.devices import create_device, set_role
from wattwise.store.sites import create_site
from wattwise.store.users import grant


def test_days_across_dst_changes_have_23_or_25_hours_and_the_hours_add_up(bw: World) -> None:
    with bw.services.engine.begin() as conn:
        site = create_site(conn, "London flat", timezone="Europe/London", currency="GBP")
        meter = create_device(conn, site_id=site.id, name="main")
    # 100 Wh in every hour from 28 to 31 March 2025 UTC; clocks go forward on the 30th
    post_readings(bw, readings(utc(2025, 3, 28, 0, 30), 96, lambda ts: 100.0), meter.key)

    url = f"/api/v1/sites/{site.id}/energy"
    days = bw.client.get(url, params={"period": "day", "start": "2025-03-29", "end": "2025-03-31"}, headers=bw.auth())
    assert days.status_code == 200, days.text
    body = days.json()
    assert [(p["start"][:10], p["hours"], p["kwh"]) for p in body["periods"]] == [
        ("2025-03-29", 24.0, 2.4),
        ("2025-03-30", 23.0, 2.3),
    ]
    hours = bw.client.get(url, params={"period": "hour", "start": "2025-03-30", "end": "2025-03-31"}, headers=bw.auth())
    periods = hours.json()["periods"]
    assert len(periods) == 23 and periods[1]["start"] == "2025-03-30T02:00:00+01:00"  # 01:00 never happened
    assert round(sum(p["kwh"] for p in periods), 6) == 2.3

    # … and back on 26 October: a 25-hour day
    post_readings(bw, readings(utc(2025, 10, 25, 0, 30), 72, lambda ts: 100.0), meter.key)
    autumn = {"period": "day", "start": "2025-10-26", "end": "2025-10-27"}
    (day,) = bw.client.get(url, params=autumn, headers=bw.auth()).json()["periods"]
    assert (day["hours"], day["kwh"]) == (25.0, 2.5)


def test_meter_and_site_energy_per_week_month_and_cycle_in_the_site_zone(bw: World) -> None:
    # Site A is in India: local days start at 18:30 UTC, inside an hourly rollup.
    post_readings(bw, readings(utc(2025, 1, 31, 0, 30), 24 * 10, lambda ts: 50.0))  # 1.2 kWh a day
    device = bw.client.get(
        f"/api/v1/devices/{bw.meter_a}/energy",
        params={"period": "day", "start": "2025-02-01", "end": "2025-02-03"},
        headers=bw.auth(),
    ).json()
    assert [p["kwh"] for p in device["periods"]] == [1.2, 1.2]
    assert device["timezone"] == "Asia/Kolkata" and device["periods"][0]["start"] == "2025-02-01T00:00:00+05:30"

    site = f"/api/v1/sites/{bw.site_a}/energy"
    week = {"period": "week", "start": "2025-02-03", "end": "2025-02-10"}
    weeks = bw.client.get(site, params=week, headers=bw.auth())
    assert [(p["start"][:10], p["kwh"]) for p in weeks.json()["periods"]] == [("2025-02-03", 8.4)]  # ISO Monday
    months = bw.client.get(
        site, params={"period": "month", "start": "2025-01-01", "end": "2025-03-01"}, headers=bw.auth()
    ).json()
    total = 239 * 0.05  # the first reading only starts the count
    assert [p["start"][:10] for p in months["periods"]] == ["2025-01-01", "2025-02-01"]
    assert round(sum(p["kwh"] for p in months["periods"]), 6) == round(total, 6) == months["total_kwh"]
    # cycles follow the site's settings (monthly from the 1st until a tariff says otherwise)
    cycles = bw.client.get(
        site, params={"period": "cycle", "start": "2025-02-01", "end": "2025-02-20"}, headers=bw.auth()
    ).json()
    assert [(p["start"][:10], p["end"][:10]) for p in cycles["periods"]] == [("2025-02-01", "2025-03-01")]


def test_a_site_is_its_main_meter_not_main_plus_sub_meters(bw: World) -> None:
    with bw.services.engine.begin() as conn:
        sub = create_device(conn, site_id=bw.site_a, name="kitchen")
        set_role(conn, bw.meter_a, role="main")
        set_role(conn, sub.device.id, role="sub", parent_id=bw.meter_a)
    post_readings(bw, readings(utc(2025, 2, 1, 0, 30), 25, lambda ts: 100.0))
    post_readings(bw, readings(utc(2025, 2, 1, 0, 30), 25, lambda ts: 40.0), sub.key)
    params = {"period": "day", "start": "2025-02-01T00:00:00Z", "end": "2025-02-02T02:00:00Z"}
    body = bw.client.get(f"/api/v1/sites/{bw.site_a}/energy", params=params, headers=bw.auth()).json()
    assert body["meters"] == [bw.meter_a] and body["total_kwh"] == 2.4


def test_who_may_see_energy_and_clear_errors(bw_sqlite: World) -> None:
    bw = bw_sqlite  # answers that do not depend on the database
    viewer = bw.auth(bw.viewer_token)
    assert bw.client.get(f"/api/v1/sites/{bw.site_a}/energy", headers=viewer).status_code == 200
    assert bw.client.get(f"/api/v1/sites/{bw.site_b}/energy", headers=viewer).status_code == 404
    assert bw.client.get(f"/api/v1/devices/{bw.meter_b}/energy", headers=viewer).status_code == 404
    assert bw.client.get(f"/api/v1/sites/{bw.site_a}/energy").status_code == 401
    url = f"/api/v1/sites/{bw.site_a}/energy"
    bad = bw.client.get(url, params={"period": "fortnight"}, headers=viewer)
    assert bad.status_code == 422 and "period" in str(bad.json()["detail"])
    bad = bw.client.get(url, params={"start": "2025-02-30"}, headers=viewer)
    assert bad.status_code == 422 and "start" in bad.json()["detail"]
    bad = bw.client.get(url, params={"period": "hour", "start": "1990-01-01"}, headers=viewer)
    assert bad.status_code == 422 and "narrow" in bad.json()["detail"]
    with bw.services.engine.begin() as conn:
        grant(conn, 2, bw.site_b, "member")  # the viewer user (id 2) becomes a member of B
    assert bw.client.get(f"/api/v1/sites/{bw.site_b}/energy", headers=viewer).status_code == 200
