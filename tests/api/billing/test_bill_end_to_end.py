"""Readings in, bill out: a Tamil Nadu household's two-month cycle billed to the paisa over REST.

Everything goes through the API a user (or a meter) uses: readings to /api/v1/ingest, the
tariff and cycle by PUT, the bill by POST; the expected figures are worked out by hand below.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from api.billing.meter_data import post_readings, readings, utc
from support import World

FIRST = utc(2024, 12, 31, 19, 45)  # 01:15 on 1 January in India: inside the cycle
RESET_AT = utc(2025, 2, 1, 6, 45)  # the meter's counter was reset; it reads 120 Wh after


def tn_household(ts: datetime) -> float:
    return 300.0 if ts.hour % 2 == 0 else 336.0


def set_up_tamil_nadu(w: World, with_readings: bool = True) -> None:
    put = w.client.put(f"/api/v1/sites/{w.site_a}/tariff", json={"preset": "in-tn-domestic"}, headers=w.auth())
    assert put.status_code == 200, put.text
    settings = {"cycle_months": 2, "cycle_anchor": "2025-01-01"}
    put = w.client.put(f"/api/v1/sites/{w.site_a}/billing/settings", json=settings, headers=w.auth())
    assert put.status_code == 200, put.text
    # 1415 hourly readings, the last at 23:15 on 28 February in India (17:45 UTC)
    if with_readings:
        post_readings(w, readings(FIRST, 1415, tn_household, resets={RESET_AT: 120.0}))


def test_a_bi_monthly_tamil_nadu_bill_equals_the_hand_computed_bill_to_the_paisa(bw: World) -> None:
    set_up_tamil_nadu(bw)
    # By hand: 1414 hours of use alternate 300 Wh (even UTC hours) and 336 Wh (odd):
    # 707 × 300 + 707 × 336 = 449,652 Wh; the reset hour used 120 Wh, not 300: 449,472 Wh.
    # Tamil Nadu, total ≤ 500 units: 100 free, 100 × 2.35 = 235.00, 200 × 4.70 = 940.00,
    # 49.472 × 6.30 = 311.6736 → 311.67. Bill: 1486.67.
    cycle = bw.client.get(
        f"/api/v1/sites/{bw.site_a}/energy",
        params={"period": "cycle", "start": "2025-01-01", "end": "2025-03-01"},
        headers=bw.auth(),
    ).json()
    assert [(p["start"], p["end"], p["kwh"]) for p in cycle["periods"]] == [
        ("2025-01-01T00:00:00+05:30", "2025-03-01T00:00:00+05:30", 449.472)
    ]

    closed = bw.client.post(f"/api/v1/sites/{bw.site_a}/bills", json={"cycle_start": "2025-01-01"}, headers=bw.auth())
    assert closed.status_code == 201, closed.text
    bill = closed.json()
    assert (bill["revision"], bill["number"]) == (1, f"site-{bw.site_a}-20250101-r1")
    assert (bill["bill"]["kwh"], bill["bill"]["total"]) == ("449.472", "1486.67")
    assert [(ln["quantity"], ln["rate"], ln["amount"]) for ln in bill["bill"]["lines"]] == [
        ("100.000", "0", "0.00"),
        ("100.000", "2.35", "235.00"),
        ("200.000", "4.70", "940.00"),
        ("49.472", "6.30", "311.67"),
    ]

    page = bw.client.get(bill["html"], headers=bw.auth())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "1,486.67" in page.text and "2025-01-01" in page.text and "<script" not in page.text


def test_a_correction_is_revision_2_and_a_new_tariff_never_rewrites_the_issued_bill(bw: World) -> None:
    set_up_tamil_nadu(bw)
    url = f"/api/v1/sites/{bw.site_a}/bills"
    first = bw.client.post(url, json={"cycle_start": "2025-01-01"}, headers=bw.auth()).json()

    again = bw.client.post(url, json={"cycle_start": "2025-01-01"}, headers=bw.auth())
    assert again.status_code == 409 and "reason" in again.json()["detail"]

    # The rates change afterwards (own tariff, one flat rate): the issued bill stays as it was.
    own = {
        "id": "flat",
        "name": "Flat 5",
        "currency": "INR",
        "versions": [{"effective_from": "2024-01-01", "slab_months": 2, "energy_rate": "5"}],
    }
    assert bw.client.put(f"/api/v1/sites/{bw.site_a}/tariff", json={"tariff": own}, headers=bw.auth()).is_success
    still = bw.client.get(f"{url}/{first['id']}", headers=bw.auth()).json()
    assert still["bill"] == first["bill"] and still["bill"]["total"] == "1486.67"

    # The utility read 452 units: a correction, with its reason, priced at the tariff now in force.
    fixed = bw.client.post(
        url, json={"cycle_start": "2025-01-01", "kwh": "452", "reason": "utility reading 452 units"}, headers=bw.auth()
    )
    assert fixed.status_code == 201, fixed.text
    assert (fixed.json()["revision"], fixed.json()["bill"]["total"]) == (2, "2260.00")  # 452 × 5

    listed = bw.client.get(url, headers=bw.auth()).json()
    assert [(b["revision"], b["current"], b["bill"]["total"]) for b in listed] == [
        (1, False, "1486.67"),
        (2, True, "2260.00"),
    ]
    ledger = bw.client.get(f"/api/v1/sites/{bw.site_a}/ledger", headers=bw.auth()).json()
    assert (ledger["billed"], ledger["balance"]) == ("2260.00", "2260.00")
    old_page = bw.client.get(first["html"], headers=bw.auth()).text
    assert "1,486.67" in old_page


def test_a_cycle_is_closed_only_once_it_has_ended_and_only_on_its_start(bw_sqlite: World) -> None:
    bw = bw_sqlite  # answers that do not depend on the database
    set_up_tamil_nadu(bw, with_readings=False)
    url = f"/api/v1/sites/{bw.site_a}/bills"
    not_a_start = bw.client.post(url, json={"cycle_start": "2025-01-05"}, headers=bw.auth())
    assert not_a_start.status_code == 422 and "cycle_start" in not_a_start.json()["detail"]
    future = bw.client.post(url, json={"cycle_start": "2099-01-01"}, headers=bw.auth())
    assert future.status_code == 409 and "not ended" in future.json()["detail"]
    viewer = bw.client.post(url, json={"cycle_start": "2025-01-01"}, headers=bw.auth(bw.viewer_token))
    assert viewer.status_code == 403
    assert bw.client.get(url, headers=bw.auth(bw.viewer_token)).json() == []


def test_a_tariff_change_mid_cycle_is_billed_part_by_part_with_slabs_weighted_by_days(bw: World) -> None:
    """Site B (UTC), a January cycle, rates rising on 11 January: 10 days old, 21 days new."""
    tariff = {
        "id": "rising",
        "name": "Rising slabs",
        "currency": "INR",
        "versions": [
            {
                "effective_from": "2024-01-01",
                "schedules": [{"slabs": [{"up_to": 100, "rate": "0"}, {"rate": "4.00"}]}],
                "fixed": [{"id": "meter", "label": "Meter", "per": "month", "amount": "62"}],
            },
            {
                "effective_from": "2025-01-11",
                "schedules": [{"slabs": [{"up_to": 100, "rate": "0"}, {"rate": "5.00"}]}],
                "fixed": [{"id": "meter", "label": "Meter", "per": "month", "amount": "93"}],
            },
        ],
    }
    site = f"/api/v1/sites/{bw.site_b}"
    assert bw.client.put(f"{site}/tariff", json={"tariff": tariff}, headers=bw.auth()).is_success
    settings = {"cycle_months": 1, "cycle_anchor": "2025-01-01"}
    assert bw.client.put(f"{site}/billing/settings", json=settings, headers=bw.auth()).is_success
    # 250 Wh in 16 of every 24 hours: 4 kWh a day, from the hour ending 00:30 on 1 January
    post_readings(bw, readings(utc(2024, 12, 31, 23, 30), 745, lambda ts: 0.0 if ts.hour % 3 == 0 else 250.0), bw.key_b)

    bill = bw.client.post(f"{site}/bills", json={}, headers=bw.auth())  # the last cycle that has ended …
    assert bill.status_code == 201
    bill = bw.client.post(f"{site}/bills", json={"cycle_start": "2025-01-01"}, headers=bw.auth()).json()
    # By hand: part 1 (1–10 Jan, 10/31 of the month) used 40 kWh, its free slab is 100 × 10/31
    # = 32.258 units: 7.742 × 4.00 = 30.968 → 30.97; meter 62 × 10/31 = 20.00.
    # Part 2 (11–31 Jan, 21/31) used 84 kWh, free 67.742: 16.258 × 5.00 = 81.29; meter 93 × 21/31 = 63.00.
    parts = bill["bill"]["parts"]
    assert [(p["start"], p["end"], p["kwh"]) for p in parts] == [
        ("2025-01-01", "2025-01-11", "40.000"),
        ("2025-01-11", "2025-02-01", "84.000"),
    ]
    amounts = [(ln["part"], ln["group"], ln["amount"]) for ln in bill["bill"]["lines"] if ln["amount"] != "0.00"]
    assert amounts == [(0, "energy", "30.97"), (0, "fixed", "20.00"), (1, "energy", "81.29"), (1, "fixed", "63.00")]
    assert bill["bill"]["total"] == str(Decimal("30.97") + Decimal("20.00") + Decimal("81.29") + Decimal("63.00"))

    # The same change entered as a switch: the old tariff alone, then the new one from 11 January.
    old, new = (
        {**tariff, "id": name, "versions": [v]} for name, v in zip(("old", "new"), tariff["versions"], strict=True)
    )
    assert bw.client.put(f"{site}/tariff", json={"tariff": old}, headers=bw.auth()).is_success
    new["versions"] = [{**new["versions"][0], "effective_from": "2020-01-01"}]
    switch = bw.client.put(f"{site}/tariff", json={"tariff": new, "effective_from": "2025-01-11"}, headers=bw.auth())
    assert switch.status_code == 200, switch.text
    assert [v["effective_from"] for v in switch.json()["tariff"]["versions"]] == ["2024-01-01", "2025-01-11"]
    again = bw.client.post(
        f"{site}/bills", json={"cycle_start": "2025-01-01", "reason": "tariff entered as a switch"}, headers=bw.auth()
    ).json()
    assert (again["revision"], again["bill"]["total"]) == (2, bill["bill"]["total"])


def test_the_first_bill_is_the_cycle_the_meter_arrived_in_not_an_empty_one_before_it(bw: World) -> None:
    """Site A's only meter was added today and has sent nothing: last month has no energy to bill,
    so "close the last cycle" is refused, naming the first cycle and when it can be closed."""
    site = f"/api/v1/sites/{bw.site_a}"
    assert bw.client.put(f"{site}/tariff", json={"preset": "in-tn-domestic"}, headers=bw.auth()).is_success
    settings = {"cycle_months": 1, "cycle_anchor": "2025-01-01"}
    assert bw.client.put(f"{site}/billing/settings", json=settings, headers=bw.auth()).is_success
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    first_start = today.replace(day=1)
    first_end = (first_start + timedelta(days=31)).replace(day=1)

    refused = bw.client.post(f"{site}/bills", json={}, headers=bw.auth())
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "no cycle to close yet" in detail
    assert f"first cycle runs {first_start} to {first_end - timedelta(days=1)}" in detail
    assert f"first meter was added on {today}" in detail
    assert f"can be closed from {first_end}" in detail

    # A cycle named before the meter existed has no measured energy either; the utility's units can bill it.
    named = bw.client.post(f"{site}/bills", json={"cycle_start": "2025-01-01"}, headers=bw.auth())
    assert named.status_code == 409 and "no meter and no reading" in named.json()["detail"]
    assert bw.client.get(f"{site}/bills", headers=bw.auth()).json() == []
    units = bw.client.post(f"{site}/bills", json={"cycle_start": "2025-01-01", "kwh": "120"}, headers=bw.auth())
    assert units.status_code == 201, units.text

    # History imported from before the meter's record counts: January 2025 is now the first cycle.
    post_readings(bw, readings(utc(2025, 1, 10), 48, lambda ts: 250.0), bw.key_a)
    measured = bw.client.post(
        f"{site}/bills", json={"cycle_start": "2025-01-01", "reason": "measured"}, headers=bw.auth()
    )
    assert measured.status_code == 201 and measured.json()["bill"]["kwh"] == "11.750", measured.text
    assert bw.client.post(f"{site}/bills", json={}, headers=bw.auth()).status_code == 201
