"""Smart plugs' own payloads (the reference's examples, verbatim) turned into our readings."""

from __future__ import annotations

import json

import orjson
import pytest

from wattwise.ingest.formats import PayloadError, Unsendable, esphome, shelly, tasmota
from wattwise.ingest.plugs import translate

NOW = 1_764_000_000_000
TASMOTA_SENSOR = (
    b'{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40","Total":6.294,'
    b'"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,"ApparentPower":2650,"ReactivePower":282,'
    b'"Factor":0.99,"Voltage":227,"Current":11.661}}'
)
SHELLY_STATUS = (
    b'{"temperature":{"tF":121.1,"tC":49.5},"aenergy":{"minute_ts":1632600459,"by_minute":[0,0,0],"total":0.134},'
    b'"current":0,"voltage":238.215,"apower":0,"output":false,"source":"switch","id":0}'
)


def notify(changed: dict[str, object], ts: float = 1_764_000_060.25, method: str = "NotifyStatus") -> bytes:
    return orjson.dumps(
        {
            "src": "shellyplusplugs-x",
            "dst": "wattwise/7/events",
            "method": method,
            "params": {"ts": ts, "switch:0": changed},
        }
    )


def test_tasmota_sensor_becomes_one_reading_in_our_units_at_arrival_time() -> None:
    assert tasmota.readings("tele/SENSOR", TASMOTA_SENSOR, NOW) == [
        {"ts": NOW, "power": 2635.0, "current": 11.661, "voltage": 227.0, "energy": 6294.0, "pf": 0.99}
    ]


def test_tasmota_status8_is_read_inside_statussns() -> None:
    body = b'{"StatusSNS":' + TASMOTA_SENSOR + b"}"
    assert tasmota.readings("stat/STATUS8", body, NOW)[0]["energy"] == 6294.0


def test_tasmota_multi_channel_sums_power_current_energy_and_takes_the_first_voltage() -> None:
    body = orjson.dumps(
        {
            "ENERGY": {
                "Total": [1.5, 0.5],
                "Power": [100, 50],
                "Voltage": [230, 229],
                "Current": [1.320, 2.100],
                "Factor": [0.9, 0.8],
                "Frequency": [50, 50],
            }
        }
    )
    (reading,) = tasmota.readings("tele/SENSOR", body, NOW)
    assert reading == {
        "ts": NOW,
        "power": 150.0,
        "current": 3.42,
        "voltage": 230.0,
        "frequency": 50.0,
        "energy": 2000.0,
    }


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"Time":"2018-02-15T17:37:10","AM2301":{"Temperature":22.6}}', "no ENERGY object"),
        (b'{"ENERGY":{"Power":"lots","Voltage":230}}', "ENERGY.Power: 'lots' is not a number"),
        (b'{"ENERGY":{"Voltage":230}}', "neither Power nor Current"),
    ],
)
def test_tasmota_unreadable_messages_name_what_is_wrong(body: bytes, named: str) -> None:
    with pytest.raises(PayloadError, match=named):
        tasmota.readings("tele/SENSOR", body, NOW)


def test_shelly_full_status_becomes_a_reading_and_is_held() -> None:
    items, held = shelly.readings("status/switch:0", SHELLY_STATUS, None, NOW)
    assert items == [{"ts": NOW, "power": 0.0, "voltage": 238.215, "current": 0.0, "energy": 0.134}]
    assert held is not None and held["aenergy"]["total"] == 0.134


def test_shelly_notification_with_only_apower_keeps_the_held_voltage_and_takes_its_own_time() -> None:
    _, held = shelly.readings("status/switch:0", SHELLY_STATUS, None, NOW)
    items, held = shelly.readings("events/rpc", notify({"id": 0, "apower": 8.1}), held, NOW)
    assert items == [{"ts": 1_764_000_060_250, "power": 8.1, "voltage": 238.215, "current": 0.0, "energy": 0.134}]
    # a nested change (aenergy) is laid over the held one field by field
    items, _ = shelly.readings("events/rpc", notify({"aenergy": {"total": 0.2}, "pf": 0.93}), held, NOW)
    assert items[0]["energy"] == 0.2 and items[0]["power"] == 8.1 and items[0]["pf"] == 0.93


def test_shelly_other_notifications_store_nothing_and_keep_what_is_held() -> None:
    _, held = shelly.readings("status/switch:0", SHELLY_STATUS, None, NOW)
    assert shelly.readings("events/rpc", notify({}, method="NotifyEvent"), held, NOW) == ([], held)
    wifi = orjson.dumps({"method": "NotifyStatus", "params": {"ts": 1.0, "wifi": {"rssi": -60}}})
    assert shelly.readings("events/rpc", wifi, held, NOW) == ([], held)
    # a change before any full status has no power to store yet
    assert shelly.readings("events/rpc", notify({"voltage": 231.0}), None, NOW) == ([], {"voltage": 231.0})


def test_shelly_status_of_a_switch_without_metering_is_named() -> None:
    with pytest.raises(PayloadError, match="neither apower nor current"):
        shelly.readings("status/switch:0", b'{"id":0,"output":true}', None, NOW)


@pytest.mark.parametrize(
    ("object_id", "metric"),
    [
        ("voltage", "voltage"),
        ("plug_current", "current"),
        ("power", "power"),
        ("pzem_power", "power"),
        ("power_factor", "pf"),
        ("energy", "energy"),
        ("total_energy", "energy"),
        ("frequency", "frequency"),
        ("apparent_power", None),
        ("reactive_power", None),
        ("daily_energy", None),
        ("wifi_signal", None),
    ],
)
def test_esphome_sensors_are_recognised_by_name(object_id: str, metric: str | None) -> None:
    assert esphome.metric_of(object_id) == metric


def test_esphome_per_sensor_messages_make_a_reading_when_the_power_arrives() -> None:
    first, held, _ = esphome.readings("sensor/power/state", b"120", esphome.Held(), NOW - 60_000)
    assert first == [{"ts": NOW - 60_000, "power": 120.0}]
    for sensor, value in [("voltage", b"230.1"), ("current", b"0.542"), ("energy", b"1520"), ("frequency", b"50.0")]:
        items, held, _ = esphome.readings(f"sensor/{sensor}/state", value, held, NOW)
        assert items == []
    items, held, _ = esphome.readings("sensor/power/state", b"124.60", held, NOW + 500)
    assert items == [
        {"ts": NOW + 500, "voltage": 230.1, "current": 0.542, "energy": 1520.0, "frequency": 50.0, "power": 124.6}
    ]
    # values older than two minutes are left out of the next reading
    items, _, _ = esphome.readings("sensor/power/state", b"130", held, NOW + esphome.FRESH_MS + 1000)
    assert items == [{"ts": NOW + esphome.FRESH_MS + 1000, "power": 130.0}]


def test_esphome_meter_without_a_power_sensor_stores_on_current_from_its_second_update() -> None:
    held = esphome.Held()
    for update in range(2):
        _, held, _ = esphome.readings("sensor/voltage/state", b"229", held, NOW + update)
        items, held, _ = esphome.readings("sensor/current/state", b"1.5", held, NOW + update)
    assert items == [{"ts": NOW + 1, "voltage": 229.0, "current": 1.5}]


def test_esphome_first_current_of_a_meter_with_a_power_sensor_makes_no_reading_of_its_own() -> None:
    items, held, _ = esphome.readings("sensor/current/state", b"1.5", esphome.Held(), NOW)
    assert items == []
    items, held, _ = esphome.readings("sensor/power/state", b"340", held, NOW)
    assert items == [{"ts": NOW, "current": 1.5, "power": 340.0}]
    assert esphome.readings("sensor/current/state", b"1.6", held, NOW)[0] == []  # the power leads


def test_esphome_unknown_sensor_is_noted_once_and_nan_is_refused() -> None:
    items, held, note = translate("sensor/wifi_signal/state", b"-61", None, NOW)
    assert items == [] and note is not None
    assert translate("sensor/wifi_signal/state", b"-62", held, NOW) == ([], held, None)
    with pytest.raises(PayloadError, match="'nan' is not a number"):
        translate("sensor/power/state", b"nan", held, NOW)


def test_what_a_plug_holds_survives_being_written_as_json_and_read_back() -> None:
    """The held state goes through the store as JSON (every server process reads it there)."""
    _, held, _ = translate("sensor/voltage/state", b"229.5", None, NOW)
    _, held, _ = translate("sensor/temperature/state", b"41", json.loads(json.dumps(held)), NOW)
    items, _, _ = translate("sensor/power/state", b"88", json.loads(json.dumps(held)), NOW + 1000)
    assert items == [{"ts": NOW + 1000, "voltage": 229.5, "power": 88.0}]
    assert translate("sensor/temperature/state", b"42", json.loads(json.dumps(held)), NOW)[2] is None  # said once
    status = b'{"id":0,"apower":10.0,"voltage":231.0,"aenergy":{"total":5.0}}'
    _, held, _ = translate("status/switch:0", status, None, NOW)
    change = b'{"method":"NotifyStatus","params":{"ts":1764000000.5,"switch:0":{"apower":20.0}}}'
    items, _, _ = translate("events/rpc", change, json.loads(json.dumps(held)), NOW)
    assert items[0]["power"] == 20.0 and items[0]["voltage"] == 231.0


def test_shelly_notify_status_without_params_is_named() -> None:
    with pytest.raises(PayloadError, match="NotifyStatus without a params object"):
        shelly.readings("events/rpc", b'{"method":"NotifyStatus","params":[1]}', None, NOW)


@pytest.mark.parametrize(
    ("tail", "payload", "relay"),
    [
        ("stat/POWER", b"OFF", "off"),
        ("stat/RESULT", b'{"POWER":"ON"}', "on"),
        ("stat/RESULT", b'{"POWER1":"OFF"}', "off"),  # a plug with several relays: channel 1
        ("stat/RESULT", b'{"EnergyTotal":{"Total":0.0}}', None),  # another command's answer
        ("stat/RESULT", b"not json", None),
    ],
)
def test_tasmota_relay_state_in_its_answers(tail: str, payload: bytes, relay: str | None) -> None:
    assert tasmota.relay_state(tail, payload) == relay


def test_shelly_rpc_answers_carry_the_request_id_and_the_error_message() -> None:
    ok = shelly.rpc_answer(b'{"id":7,"src":"shellyplusplugs-1","dst":"wattwise/3/result","result":{"was_on":true}}')
    failed = shelly.rpc_answer(b'{"id":8,"src":"s","error":{"code":-103,"message":"Switch is locked"}}')
    assert (ok.request_id, ok.error, failed.request_id, failed.error) == (7, None, 8, "Switch is locked")
    with pytest.raises(PayloadError, match=r"result/rpc: id 'x' is not a request number"):
        shelly.rpc_answer(b'{"id":"x","result":{}}')


def test_commands_a_plug_is_not_sent_are_named() -> None:
    with pytest.raises(Unsendable, match="reset_energy: a Tasmota plug is sent only relay_off and relay_on"):
        tasmota.command("reset_energy")
    with pytest.raises(Unsendable, match="no switch/<object_id>/state seen from this ESPHome plug yet"):
        esphome.command(None, "relay_off")
    assert esphome.command("plug_relay", "relay_on") == ("switch/plug_relay/command", b"ON")


def test_plug_readings_arriving_in_one_burst_are_distinct_readings() -> None:
    """The broker delivers what it held for a busy or absent server all at once: each of a
    plug's messages still makes its own reading, a millisecond after the last, not a
    duplicate of the first."""
    sensor = json.dumps({"ENERGY": {"Power": 90, "Voltage": 230, "Total": 1.5}}).encode()
    for tail, payload in (("sensor/power/state", b"100"), ("tele/SENSOR", sensor)):
        held, stamps = None, []
        for _ in range(3):
            items, held, _ = translate(tail, payload, json.loads(json.dumps(held)), NOW)
            stamps.append(items[0]["ts"])
        assert stamps == [NOW, NOW + 1, NOW + 2], tail
        items, _, _ = translate(tail, payload, held, NOW + 10_000)
        assert items[0]["ts"] == NOW + 10_000  # a later arrival keeps its own time
