"""The current cycle over REST: today's cost, the bill to date, the projected bill, the budget."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from api.billing.meter_data import post_readings, readings, utc
from support import World
from wattwise.accounting.site import budget_status
from wattwise.ingest.parse import ts_to_ms
from wattwise.store.users import grant

AS_OF = "2025-02-15T12:00:00+05:30"


def tn_household(ts: datetime) -> float:
    return 300.0 if ts.hour % 2 == 0 else 336.0  # 7.632 kWh a day


def tamil_nadu_household(w: World) -> None:
    assert w.client.put(
        f"/api/v1/sites/{w.site_a}/tariff", json={"preset": "in-tn-domestic"}, headers=w.auth()
    ).is_success
    settings = {"cycle_months": 2, "cycle_anchor": "2025-01-01"}
    assert w.client.put(f"/api/v1/sites/{w.site_a}/billing/settings", json=settings, headers=w.auth()).is_success
    # from 1 December (a month of history before the cycle) to 11:15 on 15 February in India
    post_readings(w, readings(utc(2024, 12, 1, 0, 45), 24 * 76 + 6, tn_household, {utc(2025, 2, 1, 6, 45): 120.0}))


def test_today_the_bill_to_date_and_the_projected_bill_with_its_range(bw: World) -> None:
    tamil_nadu_household(bw)
    r = bw.client.get(f"/api/v1/sites/{bw.site_a}/billing/current", params={"as_of": AS_OF}, headers=bw.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cycle"] == {"start": "2025-01-01", "end": "2025-03-01", "days": 59}
    p = body["projection"]
    # By hand: 1 Jan 00:00 to 15 Feb 11:30 IST less the reset's 0.18 kWh = 346.926 kWh;
    # 235.00 + 146.926 × 4.70 = 925.5522 → 925.55 so far.
    assert (p["bill_to_date"]["kwh"], p["bill_to_date"]["total"]) == ("346.926", "925.55")
    # Today (15 Feb from local midnight, 18:30 UTC): 3.666 kWh, all in the 4.70 slab → 17.23.
    assert (p["today"]["day"], p["today"]["kwh"], p["today"]["cost"]) == ("2025-02-15", "3.666", "17.23")
    tile = bw.client.get(f"/api/v1/sites/{bw.site_a}/billing/today", params={"as_of": AS_OF}, headers=bw.auth())
    assert tile.json() == {"site_id": bw.site_a, "currency": "INR", "cycle": body["cycle"], **p["today"]}
    # The household is regular, so the projection lands near the cycle's real 449.472 kWh / 1486.67.
    low, total, high = (Decimal(x) for x in (p["range"]["low"], p["projected"]["total"], p["range"]["high"]))
    assert low <= total <= high and abs(total - Decimal("1486.67")) < 15
    assert p["history_days"] == 28 and len(body["days"]) == 46
    assert body["days"][0] == {
        "day": "2025-01-01",
        "kwh": "7.632",
        "cost": "0.00",
        "kwh_to_date": "7.632",
        "bill_to_date": "0.00",
    }
    assert body["budget"] is None


def test_a_budget_in_money_or_kwh_says_on_track_at_risk_or_over_and_when_it_is_crossed(bw: World) -> None:
    tamil_nadu_household(bw)
    url = f"/api/v1/sites/{bw.site_a}/budget"
    assert bw.client.get(url, headers=bw.auth()).json()["status"] is None

    assert bw.client.put(url, json={"limit": "1000", "unit": "money"}, headers=bw.auth()).is_success
    status = bw.client.get(url, params={"as_of": AS_OF}, headers=bw.auth()).json()["status"]
    # 925.55 spent; 1000 is reached at 362.77 kWh: by the end of 17 Feb (≈ 366 kWh), not 16 Feb (≈ 358.5).
    assert (status["state"], status["used"], status["crossing"]) == ("at_risk", "925.55", "2025-02-17")

    assert bw.client.put(url, json={"limit": "300", "unit": "kwh"}, headers=bw.auth()).is_success
    status = bw.client.get(url, params={"as_of": AS_OF}, headers=bw.auth()).json()["status"]
    # 7.632 kWh a day: 297.6 by the end of 9 Feb's eve (39 days), 305.1 after 40: crossed on 9 Feb.
    assert (status["state"], status["unit"], status["crossing"]) == ("over", "kWh", "2025-02-09")

    assert bw.client.put(url, json={"limit": "600", "unit": "kwh"}, headers=bw.auth()).is_success
    status = bw.client.get(url, params={"as_of": AS_OF}, headers=bw.auth()).json()["status"]
    assert (status["state"], status["crossing"]) == ("on_track", None)

    # The alert rules ask the same question without HTTP.
    found = budget_status(bw.services, bw.site_a, ts_to_ms(AS_OF, 0))
    assert found is not None and found.state == "on_track"
    assert bw.client.delete(url, headers=bw.auth()).json()["budget"] is None
    assert budget_status(bw.services, bw.site_a, ts_to_ms(AS_OF, 0)) is None


def test_budget_and_settings_are_checked_and_only_writers_change_them(bw_sqlite: World) -> None:
    bw = bw_sqlite  # answers that do not depend on the database
    url = f"/api/v1/sites/{bw.site_a}"
    bad = bw.client.put(f"{url}/budget", json={"limit": "-5"}, headers=bw.auth())
    assert bad.status_code == 422 and "limit" in str(bad.json()["detail"])
    bad = bw.client.put(f"{url}/budget", json={"limit": "5", "unit": "euros"}, headers=bw.auth())
    assert bad.status_code == 422 and "unit" in str(bad.json()["detail"])
    zero = {"cycle_months": 0, "cycle_anchor": "2025-01-01"}
    bad = bw.client.put(f"{url}/billing/settings", json=zero, headers=bw.auth())
    assert bad.status_code == 422 and "cycle_months" in str(bad.json()["detail"])
    viewer = bw.auth(bw.viewer_token)
    assert bw.client.put(f"{url}/budget", json={"limit": "500"}, headers=viewer).status_code == 403
    assert bw.client.get(f"{url}/budget", headers=viewer).status_code == 200
    no_tariff = bw.client.get(f"{url}/billing/current", headers=viewer)
    assert no_tariff.status_code == 409 and "tariff" in no_tariff.json()["detail"]
    assert bw.client.get(f"/api/v1/sites/{bw.site_b}/billing/current", headers=viewer).status_code == 404
    with bw.services.engine.begin() as conn:
        grant(conn, 2, bw.site_b, "member")  # the viewer of A is a member of B: may set B's budget
    member = bw.client.put(f"/api/v1/sites/{bw.site_b}/budget", json={"limit": "500"}, headers=viewer)
    assert member.status_code == 200 and member.json()["budget"] == {"limit": "500", "unit": "money"}


def test_tariffs_presets_and_the_users_own_with_clear_errors(bw_sqlite: World) -> None:
    bw = bw_sqlite  # answers that do not depend on the database
    presets = bw.client.get("/api/v1/tariffs/presets", headers=bw.auth()).json()
    assert {"in-tn-domestic", "in-kl-domestic", "in-dl-domestic", "us-pge-e-tou-c"} <= {p["id"] for p in presets}
    tn = bw.client.get("/api/v1/tariffs/presets/in-tn-domestic", headers=bw.auth()).json()
    assert tn["versions"][0]["schedules"][0]["slabs"][1] == {"up_to": "200", "rate": "2.35"}

    site = f"/api/v1/sites/{bw.site_a}/tariff"
    assert bw.client.get(site, headers=bw.auth()).status_code == 409  # none yet
    toml = """id = "my-slabs"
name = "My utility"
currency = "INR"
[[versions]]
effective_from = 2025-01-01
[[versions.schedules]]
slabs = [{ up_to = 100, rate = "0" }, { up_to = 50, rate = "3.5" }, { rate = "4.6" }]
"""
    bad = bw.client.put(site, json={"toml": toml}, headers=bw.auth())
    assert bad.status_code == 422
    assert bad.json()["detail"]["problems"] == ["versions[0].schedules[0].slabs: slab bounds must rise: 50 follows 100"]
    good = bw.client.put(site, json={"toml": toml.replace("up_to = 50", "up_to = 200")}, headers=bw.auth())
    assert good.status_code == 200 and good.json()["format"] == "toml" and good.json()["tariff"]["id"] == "my-slabs"
    assert bw.client.get(site, headers=bw.auth(bw.viewer_token)).json()["source"].startswith('id = "my-slabs"')

    usd = bw.client.put(site, json={"preset": "us-pge-e-tou-c"}, headers=bw.auth())
    assert usd.status_code == 422 and "currency" in usd.json()["detail"]["problems"][0]
    two = bw.client.put(site, json={"preset": "in-tn-domestic", "toml": toml}, headers=bw.auth())
    assert two.status_code == 422 and "exactly one" in two.json()["detail"]["problems"][0]
    assert bw.client.put(site, json={"preset": "in-tn-domestic"}, headers=bw.auth(bw.viewer_token)).status_code == 403
    checked = bw.client.post("/api/v1/tariffs/validate", json={"preset": "nope"}, headers=bw.auth())
    assert checked.status_code == 422 and "no such preset" in checked.json()["detail"]["problems"][0]


def test_the_hour_in_progress_counts_whole_in_todays_units_and_the_bill_to_date(bw: World) -> None:
    """At 10:20 the hour 10:00-11:00 holds only what was used before 10:20, yet the bill spread
    it over the whole hour and took a third: a new installation's Energy page said 0.03 kWh
    today beside the 0.10 kWh of the overview and of the site's energy."""
    assert bw.client.put(
        f"/api/v1/sites/{bw.site_b}/tariff", json={"preset": "in-kl-domestic"}, headers=bw.auth()
    ).is_success
    post_readings(bw, [{"ts": f"2025-02-15T10:{m:02d}:00Z", "power": 1200.0} for m in range(21)], bw.key_b)
    as_of = {"as_of": "2025-02-15T10:20:00Z"}
    tile = bw.client.get(f"/api/v1/sites/{bw.site_b}/billing/today", params=as_of, headers=bw.auth()).json()
    assert (tile["day"], tile["kwh"], tile["kwh_to_date"]) == ("2025-02-15", "0.400", "0.400")
    current = bw.client.get(f"/api/v1/sites/{bw.site_b}/billing/current", params=as_of, headers=bw.auth()).json()
    assert current["projection"]["bill_to_date"]["kwh"] == "0.400"
    assert current["days"][-1]["kwh"] == "0.400"
    energy = bw.client.get(
        f"/api/v1/sites/{bw.site_b}/energy",
        params={"period": "day", "start": "2025-02-15", "end": as_of["as_of"]},
        headers=bw.auth(),
    ).json()
    assert energy["total_kwh"] == 0.4


def test_a_bill_asked_as_of_an_earlier_time_counts_only_what_was_used_by_then(bw: World) -> None:
    """The hour holding ``as_of`` counts what its readings recorded by then, not the whole hour
    (readings came after it) nor a share of it by time (the load was not even)."""
    assert bw.client.put(
        f"/api/v1/sites/{bw.site_b}/tariff", json={"preset": "in-kl-domestic"}, headers=bw.auth()
    ).is_success
    watts = [1200.0 if m <= 20 else 6000.0 for m in range(60)]  # 1.2 kW until 10:20, then 6 kW
    post_readings(bw, [{"ts": f"2025-02-15T10:{m:02d}:00Z", "power": w} for m, w in enumerate(watts)], bw.key_b)
    as_of = {"as_of": "2025-02-15T10:20:00Z"}
    tile = bw.client.get(f"/api/v1/sites/{bw.site_b}/billing/today", params=as_of, headers=bw.auth()).json()
    assert (tile["kwh"], tile["kwh_to_date"]) == ("0.400", "0.400")
    current = bw.client.get(f"/api/v1/sites/{bw.site_b}/billing/current", params=as_of, headers=bw.auth()).json()
    assert current["projection"]["bill_to_date"]["kwh"] == "0.400"
    later = bw.client.get(
        f"/api/v1/sites/{bw.site_b}/billing/today", params={"as_of": "2025-02-15T11:00:00Z"}, headers=bw.auth()
    ).json()
    assert later["kwh"] == "4.260"  # + 10:20-10:21 rising from 1.2 to 6 kW (0.06) + 38 minutes at 6 kW
