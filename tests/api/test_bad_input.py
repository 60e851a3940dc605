"""Bad input anywhere in the API is a 4xx with a JSON body naming what is wrong, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from support import World, build_world
from wattwise.runtime import Services
from wattwise.store import billing as billing_store


def post_raw(world: World, path: str, content: str, method: str = "POST") -> tuple[int, object]:
    answer = world.client.request(
        method, path, content=content, headers={**world.auth(), "content-type": "application/json"}
    )
    return answer.status_code, answer.json()


def test_nan_or_infinity_in_a_json_body_is_refused_naming_the_field(world: World) -> None:
    """Python's JSON reader admits NaN and Infinity; the refusal quoted them back and could not
    be written as JSON, so the client got a bare 500 and its connection was dropped."""
    cases = [
        ("/api/v1/sites", '{"name": NaN}', "name"),
        ("/api/v1/devices", '{"site_id": Infinity, "name": "m"}', "site_id"),
        (f"/api/v1/sites/{world.site_a}/payments", '{"amount": "10.00", "method": -Infinity}', "method"),
        ("/api/v1/me/tokens", '{"name": NaN}', "name"),
    ]
    for path, content, field in cases:
        status, body = post_raw(world, path, content)
        assert status == 422, (path, body)
        assert isinstance(body, dict)
        (error,) = body["detail"]
        assert error["loc"] == ["body", field]
        assert error["input"] in ("NaN", "Infinity", "-Infinity")

    status, body = post_raw(world, f"/api/v1/sites/{world.site_a}/budget", '{"limit": Infinity}', method="PUT")
    assert status == 422 and isinstance(body, dict)
    assert [e["loc"] for e in body["detail"]] == [["body", "limit"]]
    # nothing was stored by the refused requests, and the server still answers
    names = [s["name"] for s in world.client.get("/api/v1/sites", headers=world.auth()).json()]
    assert names == ["Home A", "Home B"]


@pytest.fixture
def any_world(services: Services) -> Iterator[World]:
    """The small installation on SQLite and on PostgreSQL."""
    w = build_world(services)
    with w.client:
        yield w


def test_a_nul_character_in_text_is_refused_naming_the_field_on_either_database(any_world: World) -> None:
    """PostgreSQL cannot store a NUL character in text (it answered 500), SQLite stored it."""
    w = any_world
    cases = [
        ("/api/v1/sites", {"name": "Hostel\u0000"}, ["body", "name"]),
        ("/api/v1/devices", {"site_id": w.site_a, "name": "m\u0000"}, ["body", "name"]),
        ("/api/v1/me/tokens", {"name": "\u0000"}, ["body", "name"]),
        ("/api/v1/auth/token", {"username": "admin\u0000", "password": "admin-password"}, ["body", "username"]),
        (
            f"/api/v1/sites/{w.site_a}/payments",
            {"amount": "10.00", "method": "cash", "reference": "\u0000"},
            ["body", "reference"],
        ),
        (
            "/api/v1/alert-channels",
            {"site_id": w.site_a, "name": "hook", "kind": "webhook", "config": {"url": "http://x.example/\u0000"}},
            ["body", "config"],
        ),
    ]
    for path, body, loc in cases:
        answer = w.client.post(path, json=body, headers=w.auth())
        assert answer.status_code == 422, (path, answer.text)
        (error,) = answer.json()["detail"]
        assert error["loc"] == loc and "NUL character" in error["msg"]

    # in a path or a query, where only PostgreSQL refuses it, the answer names the parameter
    member = w.client.delete(f"/api/v1/sites/{w.site_a}/members/viewer%00", headers=w.auth())
    assert member.status_code in (404, 422), member.text
    if member.status_code == 422:
        assert member.json()["detail"].startswith("username: must not contain the NUL character")
    signed_in = w.client.post("/api/v1/session", json={"username": "admin\u0000", "password": "admin-password"})
    assert signed_in.status_code in (401, 422) and "detail" in signed_in.json()

    names = [s["name"] for s in w.client.get("/api/v1/sites", headers=w.auth()).json()]
    assert names == ["Home A", "Home B"]
    assert [d["name"] for d in w.client.get("/api/v1/devices", headers=w.auth()).json()] == ["main", "main"]


def test_a_time_past_the_calendar_in_a_query_is_refused_naming_the_parameter(world: World) -> None:
    """A Unix time beyond year 9999 could not be turned into a local date: 500 on energy and billing."""
    site, meter = world.site_a, world.meter_a
    huge = "99999999999999999999"
    asks = {
        f"/api/v1/devices/{meter}/energy?period=day&end={huge}": "end",
        f"/api/v1/sites/{site}/energy?period=day&start=2026-01-01&end={huge}": "end",
        f"/api/v1/sites/{site}/billing/current?as_of={huge}": "as_of",
        f"/api/v1/sites/{site}/billing/today?as_of=-{huge}": "as_of",
        f"/api/v1/sites/{site}/budget?as_of={huge}": "as_of",
        f"/api/v1/devices/{meter}/series?start={huge}": "start",
        f"/api/v1/devices/{meter}/export?until={huge}": "until",
    }
    for path, name in asks.items():
        answer = world.client.get(path, headers=world.auth())
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["detail"].startswith(f"{name}: "), (path, answer.text)
        assert "year" in answer.json()["detail"]
    # the calendar's own edges still answer
    edge = world.client.get(
        f"/api/v1/devices/{meter}/energy?period=day&start=9999-12-01&end=9999-12-29", headers=world.auth()
    )
    assert edge.status_code == 200, edge.text


def test_a_time_zone_name_too_long_for_a_file_is_refused_naming_the_field(world: World) -> None:
    """The zone database is a folder of files: a 300-letter name was an OSError, a 500."""
    long_name = "Asia/" + "K" * 300
    answer = world.client.post("/api/v1/sites", json={"name": "Hostel", "timezone": long_name}, headers=world.auth())
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("timezone: unknown time zone")
    assert [s["name"] for s in world.client.get("/api/v1/sites", headers=world.auth()).json()] == ["Home A", "Home B"]


def test_money_and_units_past_any_real_bill_are_refused_naming_the_field(world: World) -> None:
    """1e308 could not be rounded to paise (a 500); 1e26 was recorded and the ledger's sums,
    28 digits long, came out wrong from then on."""
    payments = f"/api/v1/sites/{world.site_a}/payments"
    for amount in ("1e308", "99999999999999999999999999.00"):
        answer = world.client.post(payments, json={"amount": amount, "method": "cash"}, headers=world.auth())
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith("payment.amount: "), answer.text
    late = world.client.post(
        payments, json={"amount": "10.00", "method": "cash", "paid_at_ms": 2**63}, headers=world.auth()
    )
    assert late.status_code == 422 and late.json()["detail"][0]["loc"] == ["body", "paid_at_ms"], late.text
    kept = world.client.post(payments, json={"amount": "490.00", "method": "cash"}, headers=world.auth())
    assert kept.status_code == 201, kept.text
    ledger = world.client.get(f"/api/v1/sites/{world.site_a}/ledger", headers=world.auth()).json()
    assert ledger["paid"] == "490.00"

    bills = f"/api/v1/sites/{world.site_a}/bills"
    for kwh in ("1e19", "1e308"):
        answer = world.client.post(bills, json={"kwh": kwh}, headers=world.auth())
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "kwh"], answer.text


def test_a_sanctioned_load_or_budget_past_any_connection_is_refused_and_billing_keeps_answering(
    world: World,
) -> None:
    """A 1e308 kW sanctioned load was stored, and from then on every bill of the site (the
    current cycle, today's cost, the dashboard's pages) was a 500 on Delhi's per-kW charge."""
    site = f"/api/v1/sites/{world.site_a}"
    put = world.client.put(f"{site}/tariff", json={"preset": "in-dl-domestic"}, headers=world.auth())
    assert put.status_code == 200, put.text
    good = {"cycle_months": 1, "cycle_anchor": "2026-01-01", "sanctioned_kw": "3"}
    assert world.client.put(f"{site}/billing/settings", json=good, headers=world.auth()).status_code == 200

    absurd = world.client.put(f"{site}/billing/settings", json={**good, "sanctioned_kw": "1e308"}, headers=world.auth())
    assert absurd.status_code == 422, absurd.text
    assert absurd.json()["detail"].startswith("sanctioned_kw: "), absurd.text
    budget = world.client.put(f"{site}/budget", json={"limit": "1e308"}, headers=world.auth())
    assert budget.status_code == 422, budget.text
    assert "limit" in str(budget.json()["detail"]), budget.text

    settings = world.client.get(f"{site}/billing/settings", headers=world.auth()).json()
    assert (settings["sanctioned_kw"], settings["budget"]) == ("3", None)
    assert world.client.get(f"{site}/billing/current", headers=world.auth()).status_code == 200
    assert world.client.get(f"{site}/billing/today", headers=world.auth()).status_code == 200


def tariff_with(energy_rate: str = "4.5", amount: str = "10", **top: str) -> dict[str, object]:
    version = {
        "effective_from": "2025-01-01",
        "energy_rate": energy_rate,
        "fixed": [{"id": "meter", "label": "Meter rent", "per": "month", "amount": amount}],
    }
    return {"tariff": {"id": "t", "name": "T", "currency": "INR", "versions": [version], **top}}


def test_a_tariff_with_numbers_no_bill_can_hold_is_refused_naming_them(world: World) -> None:
    """A rate of 1e30 or a fixed charge of 1e308 passed validation and was stored; from then on
    every bill of the site was a 500 (Decimal's 28 digits cannot round them to paise)."""
    site = f"/api/v1/sites/{world.site_a}"
    assert world.client.put(f"{site}/tariff", json=tariff_with(), headers=world.auth()).status_code == 200
    cases = [
        (tariff_with(energy_rate="1e30"), "versions[0].energy_rate"),
        (tariff_with(amount="1e308"), "versions[0].fixed[0].amount"),
        (tariff_with(round_to="1e-300"), "round_to"),
    ]
    for body, where in cases:
        for path in ("/api/v1/tariffs/validate", f"{site}/tariff"):
            method = "POST" if path.endswith("validate") else "PUT"
            answer = world.client.request(method, path, json=body, headers=world.auth())
            assert answer.status_code == 422, (where, answer.text)
            assert any(p.startswith(f"{where}: ") for p in answer.json()["detail"]["problems"]), answer.text
    assert (
        world.client.get(f"{site}/tariff", headers=world.auth()).json()["tariff"]["versions"][0]["energy_rate"] == "4.5"
    )
    assert world.client.get(f"{site}/billing/current", headers=world.auth()).status_code == 200


def test_a_firmware_manifest_a_meter_cannot_follow_is_refused_naming_the_field(world: World) -> None:
    """A url that is no http(s) address, or a sha256 that is not hex, was published to every
    meter: each one fetched or failed on it at every check, and never updated."""
    good = {"version": "1.2.0", "url": "http://192.168.1.10:8000/fw/1.2.0.json", "sha256": "ab" * 32}
    bad = {"url": "x", "sha256": "z" * 64, "version": "latest"}
    for field, value in bad.items():
        answer = world.client.put("/api/v1/firmware/manifest", json={**good, field: value}, headers=world.auth())
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["body", field], answer.text
    assert world.client.put("/api/v1/firmware/manifest", json=good, headers=world.auth()).status_code == 200
    followed = world.client.get("/api/v1/firmware/manifest", headers={"Authorization": f"Bearer {world.key_a}"})
    assert followed.json() == good


def test_a_reading_from_a_meter_whose_clock_is_not_set_is_refused_not_filed_in_1970(world: World) -> None:
    """A meter without NTP sends ts 0 or its seconds since boot: they were stored in January
    1970, and its next readings at the same small times were counted as duplicates, never stored."""
    answer = world.client.post(
        "/api/v1/ingest",
        json=[{"ts": 0, "power": 100.0}, {"ts": 37, "power": 101.0}, {"power": 102.0}],
        headers={"Authorization": f"Bearer {world.key_a}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 1  # the one without ts: the server's clock
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert all(r["errors"][0].startswith("ts: ") and "before 2000" in r["errors"][0] for r in body["rejected"])
    series = world.client.get(
        f"/api/v1/devices/{world.meter_a}/series?start=0&end=946684800000", headers=world.auth()
    ).json()
    assert series["ts"] == []


def test_a_refused_write_is_answered_without_a_traceback_in_the_server_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A meter reporting on a command it does not have is answered 404; the writer also logged
    each one as 'write failed' with a traceback, burying real failures under a client's mistakes."""
    meter = {"Authorization": f"Bearer {world.key_a}"}
    with caplog.at_level(logging.WARNING):
        for command_id in ("99999", "1", "2147483648"):
            answer = world.client.post(f"/api/v1/commands/{command_id}/result", json={"ok": True}, headers=meter)
            assert answer.status_code in (404, 422), answer.text
            assert "command_id" in answer.text or "no command" in answer.text
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_a_payment_or_budget_stored_before_the_limits_still_reads(world: World) -> None:
    """The limits are checked on the way in: a large payment or budget already in the database
    (recorded by an earlier version) still lists, and the ledger and budget still answer."""
    site_id = world.site_a
    huge = Decimal("99999999999999999999.00")
    with world.services.engine.begin() as conn:
        billing_store.record_payment(
            conn,
            billing_store.StoredPayment(
                id="manual:old",
                site_id=site_id,
                account=f"site-{site_id}",
                amount=huge,
                currency="INR",
                paid_at_ms=1_764_000_000_000,
                method="cash",
                reference="",
                source="manual",
                event_id=None,
                recorded_ms=1_764_000_000_000,
                recorded_by="admin",
            ),
        )
        billing_store.put_settings(
            conn,
            billing_store.BillingSettings(
                site_id=site_id, cycle_months=1, cycle_anchor=date(2026, 1, 1), budget_limit=huge, budget_unit="money"
            ),
        )
    site = f"/api/v1/sites/{site_id}"
    listed = world.client.get(f"{site}/payments", headers=world.auth())
    assert listed.status_code == 200 and listed.json()[0]["amount"] == str(huge), listed.text
    assert world.client.get(f"{site}/ledger", headers=world.auth()).status_code == 200
    assert (
        world.client.put(f"{site}/tariff", json={"preset": "in-tn-domestic"}, headers=world.auth()).status_code == 200
    )
    budget = world.client.get(f"{site}/budget", headers=world.auth())
    assert budget.status_code == 200 and budget.json()["budget"]["limit"] == str(huge), budget.text


def test_a_meter_for_a_site_that_does_not_exist_is_a_404_naming_the_site(world: World) -> None:
    """An administrator was told 'the site already has a meter named …' (the foreign key's
    refusal read as a name clash); anyone else was told only owners may add meters."""
    for token in (world.admin_token, world.viewer_token):
        answer = world.client.post(
            "/api/v1/devices", json={"site_id": 99999, "name": "boiler"}, headers=world.auth(token)
        )
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == "no site with id 99999"
    viewer = world.client.post(
        "/api/v1/devices", json={"site_id": world.site_a, "name": "boiler"}, headers=world.auth(world.viewer_token)
    )
    assert viewer.status_code == 403, viewer.text  # a site they see but do not own
    flag = world.client.post("/api/v1/devices", json={"site_id": True, "name": "boiler"}, headers=world.auth())
    assert flag.status_code == 422 and flag.json()["detail"][0]["loc"] == ["body", "site_id"], flag.text
    names = [d["name"] for d in world.client.get("/api/v1/devices", headers=world.auth()).json()]
    assert names == ["main", "main"]


def test_a_token_is_named_by_both_ways_of_making_one(world: World) -> None:
    """POST /api/v1/me/tokens refused an empty name; POST /api/v1/auth/token made a nameless
    token that the account page then listed as a blank line."""
    answer = world.client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": "admin-password", "name": ""}
    )
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "name"], answer.text
    made = world.client.post("/api/v1/auth/token", json={"username": "admin", "password": "admin-password"})
    assert made.status_code == 201
    assert "" not in [t["name"] for t in world.client.get("/api/v1/me/tokens", headers=world.auth()).json()]


def test_a_wrong_method_or_unknown_path_under_api_is_answered_in_json(world: World) -> None:
    """The dashboard answered every path the API did not: GET /api/v1/ingest and a typo
    in a path got its HTML "page not found", which no API client can read."""
    wrong_method = world.client.get("/api/v1/ingest", headers={"authorization": f"Bearer {world.key_a}"})
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "GET /api/v1/ingest: method not allowed; use POST"}
    assert wrong_method.headers["allow"] == "POST"
    unknown = world.client.post("/api/v1/ingset", headers=world.auth(), json={"power": 1})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "POST /api/v1/ingset: no such API path (see /docs)"}
    assert world.client.get("/api/v1/health").json()["status"] == "ok"
    assert "text/html" in world.client.get("/login").headers["content-type"]


def test_a_query_parameter_the_endpoint_does_not_take_is_named_not_ignored(world: World) -> None:
    """``series?since=…`` (export's name for it; series takes ``start``) answered the last 24 hours."""
    series = f"/api/v1/devices/{world.meter_a}/series"
    refused = world.client.get(series, params={"since": "2025-01-01T00:00:00Z"}, headers=world.auth())
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["query", "since"]
    assert problem["msg"].startswith("not a parameter of /api/v1/devices/{device_id}/series; it takes end,")
    assert "start" in problem["msg"]
    taken = world.client.get(series, params={"start": "2025-01-01T00:00:00Z"}, headers=world.auth())
    assert taken.status_code == 200
    # any API route, even one that takes none; a path no route takes is still 404
    assert world.client.get("/api/v1/health", params={"x": "1"}).status_code == 422
    assert world.client.get("/api/v1/nowhere", params={"x": "1"}).status_code == 404
