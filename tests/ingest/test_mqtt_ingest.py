"""Meters over MQTT, against a real Mosquitto whose password and ACL files Wattwise wrote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from support import World, wattwise_broker
from wattwise.api.app import create_app
from wattwise.store import commands as command_store

SERVER_PASSWORD = "server-secret-1"


@pytest.fixture
def broker(world: World, tmp_path: Path) -> Iterator[int]:
    """A private Mosquitto that only knows Wattwise's meters (anonymous clients refused)."""
    with wattwise_broker(world, tmp_path, "--server-password", SERVER_PASSWORD) as port:
        yield port


def publisher(port: int, username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"meter-{username}")
    client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@contextmanager
def served_over(world: World, broker: int) -> Iterator[TestClient]:
    """The app running with MQTT on the test broker, logged in as the server."""
    world.services.settings = world.services.settings.model_copy(
        update={"mqtt": f"127.0.0.1:{broker}", "mqtt_username": "wattwise-server", "mqtt_password": SERVER_PASSWORD}
    )
    with TestClient(create_app(services=world.services)) as client:
        yield client


def meter_hearing(world: World, broker: int, topic: str) -> tuple[mqtt.Client, list[dict[str, object]]]:
    """Meter A connected and subscribed to ``topic``; the JSON it hears lands in the list."""
    meter = publisher(broker, str(world.meter_a), world.key_a)
    heard: list[dict[str, object]] = []
    meter.on_message = lambda _c, _u, msg: heard.append(orjson.loads(msg.payload))
    meter.subscribe(topic, qos=1)
    time.sleep(0.3)
    return meter, heard


def count(world: World, device: int) -> int:
    with world.services.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM readings WHERE device_id=:d"), {"d": device}).scalar_one())


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_meter_publishes_readings_and_only_as_itself(world: World, broker: int) -> None:
    with served_over(world, broker):
        meter, results = meter_hearing(world, broker, f"wattwise/{world.meter_a}/ingest/result")
        # pretending to be the other meter: the broker's ACL drops it
        meter.publish(f"wattwise/{world.meter_b}/readings", orjson.dumps({"power": 666.0}), qos=1).wait_for_publish()
        batch = [{"ts": 1_764_000_000_000 + i * 1000, "power": 100.0 + i, "voltage": 230.0} for i in range(50)]
        meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps(batch), qos=1).wait_for_publish()
        meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps(batch[:5]), qos=1).wait_for_publish()
        meter.publish(f"wattwise/{world.meter_a}/readings", b"{not json", qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 3)
        meter.loop_stop()
        meter.disconnect()
    assert count(world, world.meter_a) == 50
    assert count(world, world.meter_b) == 0
    # replies come as each message is committed: an invalid one is answered at once
    errors = [r for r in results if "error" in r]
    counts = sorted((r for r in results if "error" not in r), key=lambda r: -int(r["accepted"]))  # type: ignore[call-overload]
    assert counts == [
        {"accepted": 50, "duplicates": 0, "rejected": []},
        {"accepted": 0, "duplicates": 5, "rejected": []},
    ]
    assert len(errors) == 1 and "JSON" in str(errors[0]["error"])


def test_a_bad_reading_in_an_mqtt_batch_is_named_and_the_rest_is_stored(world: World, broker: int) -> None:
    with served_over(world, broker):
        meter, results = meter_hearing(world, broker, f"wattwise/{world.meter_a}/ingest/result")
        batch: list[dict[str, object]] = [
            {"ts": 1_764_000_000_000 + i * 1000, "power": 100.0 + i, "voltage": 230.0} for i in range(10)
        ]
        batch[3]["voltage"] = 9_999.0  # beyond any meter's range
        batch[7]["ts"] = "2025-11-24T16:00:07Z"  # an RFC 3339 time is fine, it just takes the long way
        meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps(batch), qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 1)
        meter.loop_stop()
        meter.disconnect()
    assert count(world, world.meter_a) == 9
    assert results[0]["accepted"] == 9
    assert [r["index"] for r in results[0]["rejected"]] == [3]  # type: ignore[attr-defined]
    assert "voltage" in str(results[0]["rejected"])


def test_a_wrong_password_cannot_connect(world: World, broker: int) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.username_pw_set(str(world.meter_a), "not-the-key")
    codes: list[object] = []
    client.on_connect = lambda _c, _u, _f, reason, _p=None: codes.append(reason)
    client.connect("127.0.0.1", broker)
    client.loop_start()
    assert wait_for(lambda: codes)
    client.loop_stop()
    assert codes[0].is_failure  # type: ignore[attr-defined]


def test_a_command_reaches_the_meter_over_mqtt_and_its_result_is_recorded_once(world: World, broker: int) -> None:
    with served_over(world, broker) as client:
        meter = publisher(broker, str(world.meter_a), world.key_a)
        received: list[dict[str, object]] = []
        meter.on_message = lambda _c, _u, msg: received.append(orjson.loads(msg.payload))
        meter.subscribe(f"wattwise/{world.meter_a}/commands", qos=1)
        time.sleep(0.5)
        issued = client.post(
            f"/api/v1/devices/{world.meter_a}/commands", json={"action": "relay_off"}, headers=world.auth()
        ).json()
        assert wait_for(lambda: received)
        assert received[0] == {"id": str(issued["id"]), "action": "relay_off"}
        result = {"id": received[0]["id"], "ok": True, "relay": "off", "detail": "relay switched off"}
        for _ in range(2):  # a retried result is recorded once
            meter.publish(f"wattwise/{world.meter_a}/commands/result", orjson.dumps(result), qos=1).wait_for_publish()
        history = lambda: client.get(f"/api/v1/devices/{world.meter_a}/commands", headers=world.auth()).json()  # noqa: E731
        assert wait_for(lambda: history()[0]["status"] == "done")
        meter.loop_stop()
        meter.disconnect()
    (done,) = world.client.get(f"/api/v1/devices/{world.meter_a}/commands", headers=world.auth()).json()
    assert (done["status"], done["relay"], done["detail"]) == ("done", "off", "relay switched off")


def test_over_mqtt_a_meter_cannot_answer_another_meters_command_nor_overwrite_an_answer(
    world: World, broker: int, caplog: pytest.LogCaptureFixture
) -> None:
    with served_over(world, broker) as client:
        issued = client.post(
            f"/api/v1/devices/{world.meter_a}/commands", json={"action": "relay_off"}, headers=world.auth()
        ).json()
        history = lambda: client.get(f"/api/v1/devices/{world.meter_a}/commands", headers=world.auth()).json()  # noqa: E731
        other = publisher(broker, str(world.meter_b), world.key_b)  # on its own topic: the broker lets it
        forged = {"id": str(issued["id"]), "ok": True, "relay": "on", "detail": "not mine"}
        other.publish(f"wattwise/{world.meter_b}/commands/result", orjson.dumps(forged), qos=1).wait_for_publish()
        assert wait_for(lambda: f"meter {world.meter_b} reported on unknown command {issued['id']}" in caplog.text)
        assert history()[0]["status"] == "pending"

        meter = publisher(broker, str(world.meter_a), world.key_a)
        first = {"id": str(issued["id"]), "ok": True, "relay": "off", "detail": "relay switched off"}
        late = {"id": str(issued["id"]), "ok": False, "relay": "on", "detail": "a late, different copy"}
        meter.publish(f"wattwise/{world.meter_a}/commands/result", orjson.dumps(first), qos=1).wait_for_publish()
        assert wait_for(lambda: history()[0]["status"] == "done")
        meter.publish(f"wattwise/{world.meter_a}/commands/result", orjson.dumps(late), qos=1).wait_for_publish()
        meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps({"power": 1.0}), qos=1).wait_for_publish()
        assert wait_for(lambda: count(world, world.meter_a) == 1)  # handled in order: the late copy came first
        for client_ in (other, meter):
            client_.loop_stop()
            client_.disconnect()
        (done,) = history()
    assert (done["status"], done["relay"], done["detail"]) == ("done", "off", "relay switched off")


def test_readings_published_while_the_server_is_down_arrive_when_it_is_back(world: World, broker: int) -> None:
    with served_over(world, broker):
        time.sleep(1.0)  # the server's session and subscription exist on the broker
    meter = publisher(broker, str(world.meter_a), world.key_a)
    batch = [{"ts": 1_764_100_000_000 + i * 1000, "power": 50.0 + i} for i in range(20)]
    meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps(batch), qos=1).wait_for_publish()
    meter.loop_stop()
    meter.disconnect()
    assert count(world, world.meter_a) == 0  # nobody was listening
    with served_over(world, broker):
        assert wait_for(lambda: count(world, world.meter_a) == 20)


def test_a_command_from_the_bus_link_goes_out_only_as_the_database_holds_it(world: World, broker: int) -> None:
    """Another server process's command reaches the meter; a forged or altered one does not."""
    with served_over(world, broker) as client:
        meter, heard = meter_hearing(world, broker, f"wattwise/{world.meter_a}/commands")
        with world.services.engine.begin() as conn:
            genuine = command_store.issue(conn, world.meter_a, "relay_off", "rule 7")
        forged = replace(genuine, id=genuine.id + 100)
        altered = replace(genuine, action="relay_on")
        portal = client.portal
        assert portal is not None
        for command in (forged, altered):
            portal.call(partial(world.services.bus.publish, "commands", command, remote=True))
        assert wait_for(lambda: heard)
        time.sleep(0.5)  # the forged one would have arrived by now
        meter.loop_stop()
        meter.disconnect()
    assert heard == [{"id": str(genuine.id), "action": "relay_off"}]  # as stored, once


def test_a_revoked_meter_is_refused_over_mqtt_as_over_http(world: World, broker: int) -> None:
    """Revoking a key refused the meter's HTTP uploads, but over MQTT (the broker's password
    file not yet written again) its readings were still stored and answered 'accepted'."""
    with served_over(world, broker) as client:
        revoked = client.post(f"/api/v1/devices/{world.meter_a}/revoke-key", headers=world.auth())
        assert revoked.status_code == 200
        meter, results = meter_hearing(world, broker, f"wattwise/{world.meter_a}/ingest/result")
        meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps({"power": 55.0}), qos=1).wait_for_publish()
        # a smart plug logged in as that meter is refused the same way
        plug_status = orjson.dumps({"id": 0, "apower": 55.0, "voltage": 231.0})
        meter.publish(f"wattwise/{world.meter_a}/status/switch:0", plug_status, qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 2)
        meter.loop_stop()
        meter.disconnect()
    assert results == [{"error": f"meter {world.meter_a}: its key is revoked; readings refused"}] * 2
    assert count(world, world.meter_a) == 0


def stored(world: World, device: int) -> list[dict[str, object]]:
    """The meter's stored readings, oldest first, without the columns left empty."""
    with world.services.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM readings WHERE device_id=:d ORDER BY ts"), {"d": device}).mappings()
        return [{k: v for k, v in row.items() if v is not None and k not in ("device_id", "wh")} for row in rows]


def test_a_tasmota_plug_under_its_meter_tree_is_stored_and_only_as_itself(
    world: World, broker: int, caplog: pytest.LogCaptureFixture
) -> None:
    sensor = {
        "Time": "2018-02-15T17:37:10",
        "ENERGY": {"Total": 6.294, "Power": 2635, "Factor": 0.99, "Voltage": 227, "Current": 11.661},
    }
    with served_over(world, broker):
        meter, results = meter_hearing(world, broker, f"wattwise/{world.meter_a}/ingest/result")
        before = time.time() * 1000
        # pretending to be the other meter: the broker's ACL drops it
        meter.publish(f"wattwise/{world.meter_b}/tele/SENSOR", orjson.dumps(sensor), qos=1).wait_for_publish()
        meter.publish(f"wattwise/{world.meter_a}/tele/SENSOR", b'{"ENERGY":{"Power":"lots"}}', qos=1).wait_for_publish()
        meter.publish(f"wattwise/{world.meter_a}/tele/SENSOR", orjson.dumps(sensor), qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 1)
        meter.loop_stop()
        meter.disconnect()
    (reading,) = stored(world, world.meter_a)
    assert before <= int(reading.pop("ts")) <= time.time() * 1000  # the plug's zoneless Time is not used  # type: ignore[call-overload]
    assert reading == {"power": 2635.0, "voltage": 227.0, "current": 11.661, "energy": 6294.0, "pf": 0.99}
    assert count(world, world.meter_b) == 0
    assert any("ENERGY.Power: 'lots' is not a number" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records if "plug" in r.getMessage())


def test_a_shelly_notification_of_only_apower_is_stored_with_the_held_voltage(world: World, broker: int) -> None:
    status = {
        "aenergy": {"minute_ts": 1632600459, "by_minute": [0, 0, 0], "total": 0.134},
        "current": 0,
        "voltage": 238.215,
        "apower": 0,
        "output": False,
        "source": "switch",
        "id": 0,
    }
    with served_over(world, broker):
        meter, results = meter_hearing(world, broker, f"wattwise/{world.meter_a}/ingest/result")
        meter.publish(f"wattwise/{world.meter_a}/status/switch:0", orjson.dumps(status), qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 1)
        ts = round(time.time() + 1, 2)
        change = {
            "src": "shellyplusplugs",
            "dst": f"wattwise/{world.meter_a}/events",
            "method": "NotifyStatus",
            "params": {"ts": ts, "switch:0": {"id": 0, "apower": 61.4, "current": 0.27}},
        }
        meter.publish(f"wattwise/{world.meter_a}/events/rpc", orjson.dumps(change), qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 2)
        meter.loop_stop()
        meter.disconnect()
    first, second = stored(world, world.meter_a)
    assert {k: first[k] for k in ("power", "voltage", "energy")} == {"power": 0.0, "voltage": 238.215, "energy": 0.134}
    assert second == {"ts": round(ts * 1000), "power": 61.4, "current": 0.27, "voltage": 238.215, "energy": 0.134}


def test_esphome_per_sensor_messages_become_readings(
    world: World, broker: int, caplog: pytest.LogCaptureFixture
) -> None:
    update = [
        ("voltage", "230.4"),
        ("current", "0.512"),
        ("power", "117.90"),
        ("energy", "1520"),
        ("wifi_signal", "-61"),
    ]
    with served_over(world, broker):
        meter, results = meter_hearing(world, broker, f"wattwise/{world.meter_a}/ingest/result")
        meter.publish(f"wattwise/{world.meter_a}/sensor/power/state", "nan", qos=1).wait_for_publish()
        for _ in range(2):  # two updates of a pzemac sensor set, in its order
            for sensor, value in update:
                meter.publish(f"wattwise/{world.meter_a}/sensor/{sensor}/state", value, qos=1).wait_for_publish()
        assert wait_for(lambda: len(results) >= 2)
        meter.loop_stop()
        meter.disconnect()
    assert any("sensor/power/state: 'nan' is not a number" in r.getMessage() for r in caplog.records)
    failed = [
        r for r in caplog.records if r.exc_info and ("write failed" in r.getMessage() or "MQTT" in r.getMessage())
    ]
    assert not failed  # refused by name, not a failed write
    first, second = stored(world, world.meter_a)
    # the energy arrived after the power: it goes with the next reading
    assert {k: v for k, v in first.items() if k != "ts"} == {"voltage": 230.4, "current": 0.512, "power": 117.9}
    assert {k: v for k, v in second.items() if k != "ts"} == {
        "voltage": 230.4,
        "current": 0.512,
        "power": 117.9,
        "energy": 1520.0,
    }
