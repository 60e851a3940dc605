"""A facility manager's site report: a main meter and two floors, a known loss, a silent meter,
a finding and an alert in the period — the same figures as JSON, CSV and a printable page."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

from api.billing.meter_data import post_readings, utc
from support import World
from wattwise.store.alerts import NewAlert, RuleFields, add_alert, add_rule
from wattwise.store.detections import NewEvent, NewRun, insert_events, insert_runs
from wattwise.store.devices import create_device, set_role
from wattwise.store.findings import NewFinding, add_finding
from wattwise.store.sites import create_site
from wattwise.store.users import grant

# June 2025 in Berlin (+02:00): 2025-05-31 22:00 UTC to 2025-06-30 22:00 UTC
JUNE_START, JUNE_END = utc(2025, 5, 31, 22), utc(2025, 6, 30, 22)
MAIN_GAP = (utc(2025, 6, 10, 5), utc(2025, 6, 10, 11))  # no readings in between: six hours silent
PEAK_AT, SAG_AT, SWELL_AT = utc(2025, 6, 15, 12), utc(2025, 6, 20, 3), utc(2025, 6, 21, 4)
NEVER = {"quantity": "power", "direction": "above", "trigger": 10_000}  # the live engine never fires it here
FLOOR2_LAST = utc(2025, 6, 30, 0)  # the second floor's meter went silent 22 hours before the end


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def hourly(first: datetime, last: datetime, wh: float, skip: tuple[datetime, datetime] | None = None) -> list[Any]:
    """A counter read every hour on the hour from ``first`` to ``last``, using ``wh`` an hour."""
    out, counter, t = [], 1_000_000.0, first
    while t <= last:
        if t != first:
            counter += wh
        if skip is None or not skip[0] < t < skip[1]:
            power = 5000.0 if t == PEAK_AT else 2000.0
            volts = {SAG_AT: 207.5, SWELL_AT: 251.0}.get(t, 230.0)
            out.append({"ts": t.isoformat(), "energy": counter, "power": power, "voltage": volts})
        t += timedelta(hours=1)
    return out


def alert(rule_id: int, site_id: int, device_id: int, at: int) -> NewAlert:
    return NewAlert(
        rule_id=rule_id,
        site_id=site_id,
        device_id=device_id,
        kind="threshold",
        started_ts=at,
        value=5000.0,
        message="over 10 kW",
    )


def post(world: World, body: list[Any], key: str) -> None:
    for i in range(0, len(body), 400):
        post_readings(world, body[i : i + 400], key)


def office(bw: World) -> dict[str, Any]:
    """The site, its meters and what happened in June."""
    with bw.services.engine.begin() as conn:
        site = create_site(conn, "Office", timezone="Europe/Berlin", currency="EUR")
        main = create_device(conn, site_id=site.id, name="incomer")
        floor1 = create_device(conn, site_id=site.id, name="floor 1")
        floor2 = create_device(conn, site_id=site.id, name="floor 2")
        set_role(conn, main.device.id, role="main")
        for sub in (floor1, floor2):
            set_role(conn, sub.device.id, role="sub", parent_id=main.device.id)
        m = main.device.id
        for kind, start in (("balance_loss", utc(2025, 6, 12)), ("sag", SAG_AT), ("balance_loss", utc(2025, 5, 20))):
            add_finding(conn, NewFinding(m, kind, ms(start), ms(start) + 60_000, 3.0, "test", {}))
        rule = add_rule(
            conn,
            RuleFields(site_id=site.id, device_id=m, name="incomer over 10 kW", kind="threshold", params=NEVER),
            by="admin",
        )
        add_alert(conn, alert(rule.id, site.id, m, ms(PEAK_AT)))
        add_alert(conn, alert(rule.id, site.id, m, ms(utc(2025, 5, 2))))
        (on, off) = insert_events(
            conn,
            floor1.device.id,
            [
                NewEvent(ms(utc(2025, 6, 3, t)), p, None, abs(p), 1000, 0, 0, "heater", 0.9)
                for t, p in ((8, 2000), (10, -2000))
            ],
        )
        insert_runs(
            conn, floor1.device.id, [NewRun(ms(utc(2025, 6, 3, 8)), ms(utc(2025, 6, 3, 10)), 2000.0, "heater", on, off)]
        )
    # the main meter from local 31 May 00:00 (23 kWh of May counted), the floors from June on
    post(bw, hourly(utc(2025, 5, 30, 22), utc(2025, 6, 30, 23), 1000.0, MAIN_GAP), main.key)
    post(bw, hourly(JUNE_START - timedelta(hours=1), utc(2025, 6, 30, 23), 600.0), floor1.key)
    post(bw, hourly(JUNE_START - timedelta(hours=1), FLOOR2_LAST, 300.0), floor2.key)
    return {"site": site.id, "main": m, "floor1": floor1.device.id, "floor2": floor2.device.id}


def test_the_report_of_a_month_counts_losses_peaks_gaps_findings_and_alerts_exactly(bw: World) -> None:
    ids = office(bw)
    url = f"/api/v1/sites/{ids['site']}/report"
    answer = bw.client.get(url, params={"start": "2025-06-01", "end": "2025-07-01"}, headers=bw.auth())
    assert answer.status_code == 200, answer.text
    r = answer.json()
    assert (r["label"], r["start"], r["end"], r["timezone"]) == (
        "June 2025",
        "2025-06-01",
        "2025-07-01",
        "Europe/Berlin",
    )
    assert (r["start_ms"], r["end_ms"]) == (ms(JUNE_START), ms(JUNE_END))
    assert [m["name"] for m in r["meters"]] == ["incomer", "floor 1", "floor 2"]  # a main, then its subs
    meters = {m["name"]: m for m in r["meters"]}
    main, f1, f2 = meters["incomer"], meters["floor 1"], meters["floor 2"]
    # 720 hours of June; floor 2 read its last at 30 June 00:00 UTC (699 readings in June)
    assert (main["kwh"], f1["kwh"], f2["kwh"]) == (720.0, 432.0, 209.7)
    assert r["total_kwh"] == 720.0  # the floors are inside the incomer
    assert [(m["role"], m["parent_name"], m["counted"]) for m in (main, f1, f2)] == [
        ("main", None, True),
        ("sub", "incomer", False),
        ("sub", "incomer", False),
    ]
    assert (main["share_pct"], f1["share_pct"]) == (100.0, 60.0)
    (balance,) = r["balances"]
    assert balance["main_kwh"] == 720.0 and balance["subs_kwh"] == 641.7
    assert balance["unaccounted_kwh"] == round(720 - 641.7, 6) and balance["unaccounted_pct"] == round(78.3 / 7.2, 6)
    assert sorted(balance["sub_ids"]) == [ids["floor1"], ids["floor2"]]

    assert main["peak_power"] == {"value": 5000.0, "ts_ms": ms(PEAK_AT), "local": "2025-06-15T14:00:00+02:00"}
    assert (main["voltage_min"]["value"], main["voltage_min"]["ts_ms"]) == (207.5, ms(SAG_AT))
    assert (main["voltage_max"]["value"], main["voltage_max"]["ts_ms"]) == (251.0, ms(SWELL_AT))
    assert (main["readings"], f1["readings"], f2["readings"]) == (715, 720, 699)
    gap = main["longest_silence"]
    assert (gap["seconds"], gap["from_ms"], gap["to_ms"]) == (6 * 3600.0, ms(MAIN_GAP[0]), ms(MAIN_GAP[1]))
    silent = f2["longest_silence"]  # from its last reading to the end of the month
    assert (silent["seconds"], silent["from_local"], silent["to_local"]) == (
        22 * 3600.0,
        "2025-06-30T02:00:00+02:00",
        "2025-07-01T00:00:00+02:00",
    )
    assert f1["longest_silence"]["seconds"] == 3600.0  # the last hour of the month (its last reading 21:00 UTC)

    assert main["findings"] == {"balance_loss": 1, "sag": 1} and f1["findings"] == {}
    assert f1["appliances"] == [{"name": "heater", "runs": 1, "kwh": 4.0}]
    assert r["alerts"]["total"] == 1 and r["alerts"]["by_status"] == {"open": 1}
    assert [(t["name"], t["alerts"]) for t in r["alerts"]["top_rules"]] == [("incomer over 10 kW", 1)]

    # 30 days before June: the incomer's 23 kWh of 31 May
    assert (r["previous_start"], r["previous_total_kwh"]) == ("2025-05-02", 23.0)
    assert r["change_pct"] == round((720 - 23) / 23 * 100, 6)
    assert r["has_tariff"] is False and r["bills"] == []

    # CSV: one row per meter, the same figures
    table = bw.client.get(url, params={"start": "2025-06-01", "end": "2025-07-01", "format": "csv"}, headers=bw.auth())
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    rows = {row["meter"]: row for row in csv.DictReader(io.StringIO(table.text))}
    assert set(rows) == {"incomer", "floor 1", "floor 2"}
    assert float(rows["incomer"]["kwh"]) == 720.0 and float(rows["floor 2"]["kwh"]) == 209.7
    assert float(rows["incomer"]["peak_w"]) == 5000.0 and rows["incomer"]["peak_at"] == "2025-06-15T14:00:00+02:00"
    assert float(rows["incomer"]["voltage_min_v"]) == 207.5 and float(rows["incomer"]["voltage_max_v"]) == 251.0
    assert int(rows["incomer"]["readings"]) == 715 and float(rows["incomer"]["longest_gap_s"]) == 21600.0
    assert rows["incomer"]["findings"] == "balance_loss=1; sag=1"
    assert rows["floor 1"]["top_appliances"] == "heater: 1 runs, 4.0 kWh"
    assert rows["floor 1"]["role"] == "sub" and rows["floor 1"]["parent"] == "incomer"

    # the printable page: the same figures, nothing loaded from elsewhere
    page = bw.client.get(url, params={"start": "2025-06-01", "end": "2025-07-01", "format": "html"}, headers=bw.auth())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for shown in (
        "June 2025",
        "720.000",
        "641.700",
        "78.300",
        "10.9 %",
        "5,000 W",
        "207.5 V",
        "251.0 V",
        "6 h",
        "22 h",
        "balance_loss: 1",
        "heater",
        "incomer over 10 kW",
    ):
        assert shown in html, shown
    assert not re.search(r"https?://", html) and "<script" not in html and "@media print" in html


def test_the_default_period_is_the_last_whole_month_and_bad_parameters_are_named(bw_sqlite: World) -> None:
    bw = bw_sqlite  # answers that do not depend on the database
    url = f"/api/v1/sites/{bw.site_b}/report"
    r = bw.client.get(url, headers=bw.auth()).json()
    start, end = (datetime.fromisoformat(d).date() for d in (r["start"], r["end"]))
    assert start.day == 1 and end.day == 1 and 28 <= (end - start).days <= 31 and r["label"] == f"{start:%B %Y}"
    assert end <= datetime.now().date() < end + timedelta(days=32)
    only_start = bw.client.get(url, params={"start": "2025-02-10"}, headers=bw.auth()).json()
    assert (only_start["end"], only_start["label"]) == ("2025-03-10", "2025-02-10 to 2025-03-09")
    for params, named in (
        ({"start": "2025-02-30"}, "start"),
        ({"start": "June"}, "start"),
        ({"start": "2025-06-01", "end": "2025-13-01"}, "end"),
        ({"start": "2025-06-01", "end": "2025-05-01"}, "end"),
        ({"start": "2025-06-01", "end": "2025-06-01"}, "end"),
        ({"start": "2024-01-01", "end": "2025-01-03"}, "end"),  # 368 days
        ({"format": "pdf"}, "format"),
        ({"start": "0001-01-01"}, "start"),
    ):
        bad = bw.client.get(url, params=params, headers=bw.auth())
        assert bad.status_code == 422, (params, bad.text)
        assert str(bad.json()["detail"]).startswith(f"{named}:"), (params, bad.json())
    assert bw.client.get(url, params={"start": "2024-01-01", "end": "2025-01-01"}, headers=bw.auth()).status_code == 200
    assert bw.client.get(url, params={"month": "2025-06"}, headers=bw.auth()).status_code == 422  # not a parameter
    assert bw.client.get("/api/v1/sites/999/report", headers=bw.auth()).status_code == 404


def test_only_people_of_the_site_see_its_report(bw_sqlite: World) -> None:
    bw = bw_sqlite
    viewer = bw.auth(bw.viewer_token)
    assert bw.client.get(f"/api/v1/sites/{bw.site_a}/report", headers=viewer).status_code == 200
    hidden = bw.client.get(f"/api/v1/sites/{bw.site_b}/report", params={"format": "html"}, headers=viewer)
    assert hidden.status_code == 404 and "Home B" not in hidden.text
    assert bw.client.get(f"/api/v1/sites/{bw.site_a}/report").status_code == 401
    with bw.services.engine.begin() as conn:
        grant(conn, 2, bw.site_b, "member")  # the viewer user (id 2) becomes a member of B
    assert bw.client.get(f"/api/v1/sites/{bw.site_b}/report", headers=viewer).status_code == 200


def test_money_is_the_bills_of_the_cycles_that_overlap_the_period(bw_sqlite: World) -> None:
    bw = bw_sqlite
    site = f"/api/v1/sites/{bw.site_a}"
    none = bw.client.get(f"{site}/report", params={"start": "2025-02-01"}, headers=bw.auth()).json()
    assert (none["has_tariff"], none["bills"]) == (False, [])
    assert (
        "no tariff"
        in bw.client.get(f"{site}/report", params={"start": "2025-02-01", "format": "html"}, headers=bw.auth()).text
    )
    assert bw.client.put(f"{site}/tariff", json={"preset": "in-tn-domestic"}, headers=bw.auth()).is_success
    issued = bw.client.post(f"{site}/bills", json={"cycle_start": "2025-01-01", "kwh": "452"}, headers=bw.auth())
    assert issued.status_code == 201, issued.text
    total = issued.json()["bill"]["total"]
    february = bw.client.get(f"{site}/report", params={"start": "2025-02-01"}, headers=bw.auth()).json()
    (bill,) = february["bills"]
    assert (bill["cycle_start"], bill["cycle_end"], bill["kwh"], bill["total"]) == (
        "2025-01-01",
        "2025-03-01",
        "452",
        total,
    )
    assert (bill["status"], bill["due"], bill["revision"]) == ("unpaid", total, 1)
    page = bw.client.get(f"{site}/report", params={"start": "2025-02-01", "format": "html"}, headers=bw.auth()).text
    assert bill["number"] in page and total in page and "not a cost of the period" in page
    april = bw.client.get(f"{site}/report", params={"start": "2025-04-01"}, headers=bw.auth()).json()
    assert (april["has_tariff"], april["bills"]) == (True, [])
