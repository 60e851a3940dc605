"""POST /api/v1/ingest and the seed firmware's endpoints, as a meter and its owner see them."""

from __future__ import annotations

import time

from support import World


def stored(world: World, device: int | None = None) -> list[dict[str, object]]:
    response = world.client.get(
        "/api/get-graph-data", params={"limit": 5000, "key": world.key_a if device is None else world.key_b}
    )
    assert response.status_code == 200
    body = response.json()
    return [
        dict(zip(("ts", "power", "voltage"), row, strict=True))
        for row in zip(body["ts"], body["power"], body["voltage"], strict=True)
    ]


def test_one_reading_without_ts_is_stamped_with_the_server_clock(world: World) -> None:
    before = int(time.time() * 1000)
    assert world.ingest({"voltage": 229.8, "current": 1.42, "power": 312.5}) == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [],
    }
    (row,) = stored(world)
    assert before <= int(row["ts"]) <= int(time.time() * 1000) and row["power"] == 312.5  # type: ignore[call-overload]


def test_a_bad_reading_never_costs_the_good_ones_and_each_error_names_the_field(world: World) -> None:
    body = [
        {"ts": 1_764_000_000, "power": 100.0},
        {"ts": 1_764_000_001, "power": 100.0, "voltage": 5000},
        {"ts": 1_764_000_002, "power": "lots"},
        {"ts": 1_764_000_003, "voltage": 230.0},
        {"ts": 1_764_000_004, "power": 50.0, "pf": 1.7, "frequency": 30},
        {"ts": "yesterday", "power": 1.0},
        {"ts": int(time.time()) + 3600, "power": 1.0},
        "not an object",
        {"ts": "2025-11-24T10:15:00+05:30", "power": -250.0},  # export is allowed
    ]
    result = world.ingest(body)
    assert result["accepted"] == 2 and result["duplicates"] == 0
    errors = {r["index"]: " ".join(r["errors"]) for r in result["rejected"]}  # type: ignore[union-attr]
    assert set(errors) == {1, 2, 3, 4, 5, 6, 7}
    assert "voltage" in errors[1] and "5000" in errors[1]
    assert "power" in errors[2]
    assert "power or current" in errors[3]
    assert "pf" in errors[4] and "frequency" in errors[4]
    assert "ts" in errors[5] and "ts" in errors[6] and "future" in errors[6]
    assert [r["power"] for r in stored(world)] == [-250.0, 100.0]


def test_a_retried_batch_is_counted_as_duplicates(world: World) -> None:
    batch = [{"ts": 1_764_000_000_000 + i * 1000, "power": 10.0 * i} for i in range(100)]
    assert world.ingest(batch)["accepted"] == 100
    assert world.ingest(batch) == {"accepted": 0, "duplicates": 100, "rejected": []}
    assert len(stored(world)) == 100


def test_timestamps_in_seconds_milliseconds_and_rfc3339_mean_the_same_instant(world: World) -> None:
    result = world.ingest(
        [
            {"ts": 1_764_000_000, "power": 1.0},
            {"ts": 1_764_000_000_000, "power": 2.0},
            {"ts": "2025-11-24T16:00:00Z", "power": 3.0},
        ]
    )
    assert result == {"accepted": 1, "duplicates": 2, "rejected": []}


def test_wrong_missing_and_revoked_keys_get_401(world: World) -> None:
    assert world.client.post("/api/v1/ingest", json={"power": 1}).status_code == 401
    bad = world.client.post("/api/v1/ingest", json={"power": 1}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "device key" in bad.json()["detail"]
    revoked = world.client.post(f"/api/v1/devices/{world.meter_a}/revoke-key", headers=world.auth())
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    gone = world.client.post("/api/v1/ingest", json={"power": 1}, headers={"Authorization": f"Bearer {world.key_a}"})
    assert gone.status_code == 401


def test_rotating_a_key_retires_the_old_one(world: World) -> None:
    rotated = world.client.post(f"/api/v1/devices/{world.meter_a}/rotate-key", headers=world.auth())
    new_key = rotated.json()["key"]
    old = world.client.post("/api/v1/ingest", json={"power": 1}, headers={"Authorization": f"Bearer {world.key_a}"})
    assert old.status_code == 401
    assert world.ingest({"power": 1.0}, key=new_key)["accepted"] == 1


def test_oversized_bodies_get_413_and_nothing_usable_gets_422(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.key_a}"}
    too_many = [{"ts": 1_764_000_000 + i, "power": 1.0} for i in range(10_001)]
    response = world.client.post("/api/v1/ingest", json=too_many, headers=headers)
    assert response.status_code == 413 and "10000" in response.json()["detail"]
    huge = b"[" + b",".join(b'{"power": 1.0, "note": "' + b"x" * 1000 + b'"}' for _ in range(5000)) + b"]"
    assert world.client.post("/api/v1/ingest", content=huge, headers=headers).status_code == 413
    nothing = world.client.post("/api/v1/ingest", json=[{"voltage": 1}], headers=headers)
    assert nothing.status_code == 422 and nothing.json()["rejected"][0]["index"] == 0
    broken = world.client.post("/api/v1/ingest", content=b"{oops", headers=headers)
    assert broken.status_code == 400 and "JSON" in broken.json()["detail"]
    assert stored(world) == []


def test_seed_firmware_posts_voltage_and_current_with_the_key_in_the_query(world: World) -> None:
    response = world.client.post(f"/api/update-dht-data?key={world.key_a}", json={"Voltage": 227.5, "Current": 1.42})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    header = world.client.post(
        "/api/update-dht-data", json={"Voltage": 230, "Current": 2}, headers={"X-Device-Key": world.key_a}
    )
    assert header.json()["accepted"] == 1
    graph = world.client.get("/api/get-graph-data", params={"key": world.key_a}).json()
    assert graph["voltage"] == [227.5, 230.0]
    assert graph["power"][0] == 227.5 * 1.42  # P = V × I, as the seed firmware computes it
    assert len(graph["labels"]) == 2


def test_the_openapi_description_documents_every_contract(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    for path in (
        "/api/v1/ingest",
        "/api/update-dht-data",
        "/api/get-graph-data",
        "/api/v1/devices/{device_id}/series",
        "/api/v1/devices",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"voltage", "current", "power", "energy", "frequency", "pf", "ts"} <= set(body["oneOf"][0]["properties"])
    assert {"401", "413", "422"} <= set(spec["paths"]["/api/v1/ingest"]["post"]["responses"])


def test_a_reading_in_another_shape_is_told_which_keys_were_not_understood(world: World) -> None:
    """A Tasmota SENSOR payload, or the seed firmware's capitalised keys sent to the new
    endpoint, was told only 'a reading needs at least one of power or current'."""
    headers = {"Authorization": f"Bearer {world.key_a}"}
    body = [
        {"Time": "2026-11-25T00:14:05", "ENERGY": {"Power": 120, "Voltage": 229}},
        {"Voltage": 227.5, "Current": 1.42},
        None,
        [1, 2],
        "230 V",
    ]
    answer = world.client.post("/api/v1/ingest", json=body, headers=headers)
    assert answer.status_code == 422
    errors = [r["errors"] for r in answer.json()["rejected"]]
    fields = "the fields are ts, voltage, current, power, energy, frequency, pf"
    assert errors[0][-1] == f"reading: 'Time', 'ENERGY' are not fields of a reading; {fields}"
    assert errors[1][-1] == f"reading: 'Voltage', 'Current' are not fields of a reading; {fields}"
    assert errors[2:] == [
        ["reading: expected a JSON object, got null"],
        ["reading: expected a JSON object, got an array"],
        ["reading: expected a JSON object, got a string"],
    ]


def test_a_device_key_without_the_bearer_word_is_told_so(world: World) -> None:
    """'Authorization: <key>' was answered 'missing device key', although a key was sent."""
    for path, body in (("/api/v1/ingest", {"power": 1}), ("/api/update-dht-data", {"Voltage": 230, "Current": 1})):
        answer = world.client.post(path, json=body, headers={"Authorization": world.key_a})
        assert answer.status_code == 401
        assert answer.json()["detail"] == (
            "Authorization: put the word Bearer before the key ('Authorization: Bearer <device key>')"
        )
        assert world.key_a not in answer.text
