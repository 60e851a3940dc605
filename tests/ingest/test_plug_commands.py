"""Relay commands to smart plugs in their own language, against a real Mosquitto whose ACL
Wattwise wrote: a client logged in as the meter plays the plug (Tasmota, Shelly Gen2, ESPHome)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi.testclient import TestClient

from alerts.test_relay_over_mqtt import overload_rule
from ingest.test_mqtt_ingest import broker, publisher, served_over, wait_for  # noqa: F401  (broker: fixture)
from support import World

TASMOTA_SENSOR = {
    "Time": "2026-11-25T01:00:00",
    "ENERGY": {"Total": 1.5, "Power": 120, "Voltage": 230, "Current": 0.52},
}
SHELLY_STATUS = {"id": 0, "source": "init", "output": True, "apower": 61.4, "voltage": 231.0, "current": 0.27}


class Plug:
    """Meter A's plug: logged in as the meter, hearing ``topics`` under its tree."""

    def __init__(self, world: World, port: int, *tails: str) -> None:
        self.prefix = f"wattwise/{world.meter_a}"
        self.heard: list[tuple[str, bytes]] = []
        self.client = publisher(port, str(world.meter_a), world.key_a)
        self.client.on_message = lambda _c, _u, msg: self.heard.append((msg.topic, bytes(msg.payload)))
        self.client.subscribe([(f"{self.prefix}/{tail}", 1) for tail in (*tails, "ingest/result")])
        time.sleep(0.3)

    def say(self, tail: str, payload: bytes | str | dict[str, Any]) -> None:
        body = orjson.dumps(payload) if isinstance(payload, dict) else payload
        self.client.publish(f"{self.prefix}/{tail}", body, qos=1).wait_for_publish()

    def said_telemetry(self) -> None:
        """Wait for the server's answer to the telemetry: the plug's kind is known once stored."""
        assert wait_for(lambda: any(t.endswith("/ingest/result") for t, _ in self.heard))

    def commands(self) -> list[tuple[str, bytes]]:
        return [(t, p) for t, p in self.heard if not t.endswith("/ingest/result")]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def tasmota_that_spoke(world: World, port: int, *more: str) -> Plug:
    """A Tasmota plug hearing ``cmnd/#`` (and ``more``) whose telemetry has been stored."""
    plug = Plug(world, port, "cmnd/#", *more)
    plug.say("tele/SENSOR", TASMOTA_SENSOR)
    plug.said_telemetry()
    return plug


def issue(client: TestClient, world: World, action: str = "relay_off") -> dict[str, Any]:
    response = client.post(f"/api/v1/devices/{world.meter_a}/commands", json={"action": action}, headers=world.auth())
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def history(client: TestClient, world: World) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/devices/{world.meter_a}/commands", headers=world.auth()).json()  # type: ignore[no-any-return]


def waits(plug: Plug, client: TestClient, world: World) -> None:
    """A relay_off issued now stays pending and nothing reaches the plug's command topics."""
    issue(client, world)
    time.sleep(1.0)
    assert plug.commands() == []
    assert history(client, world)[0]["status"] == "pending"


def settled(client: TestClient, world: World) -> dict[str, Any]:
    assert wait_for(lambda: history(client, world)[0]["status"] != "pending")
    return history(client, world)[0]


def test_a_tasmota_plug_is_sent_power_off_and_its_stat_answer_completes_the_command(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        plug = tasmota_that_spoke(world, broker, "commands")
        issued = issue(client, world)
        assert wait_for(lambda: plug.commands())
        assert plug.commands() == [(f"{plug.prefix}/cmnd/POWER", b"OFF")]
        plug.say("stat/RESULT", {"POWER": "OFF"})
        plug.say("stat/POWER", "OFF")
        done = settled(client, world)
        plug.close()
    assert (done["id"], done["status"], done["relay"]) == (issued["id"], "done", "off")


def test_a_shelly_plug_gets_switch_set_over_rpc_and_its_response_completes_the_command(
    world: World,
    broker: int,  # noqa: F811
) -> None:
    with served_over(world, broker) as client:
        plug = Plug(world, broker, "rpc", "commands")
        plug.say("status/switch:0", SHELLY_STATUS)
        plug.said_telemetry()
        issued = issue(client, world)
        assert wait_for(lambda: plug.commands())
        ((topic, payload),) = plug.commands()
        request = orjson.loads(payload)
        assert topic == f"{plug.prefix}/rpc"
        assert request == {
            "id": issued["id"],
            "src": f"{plug.prefix}/result",
            "method": "Switch.Set",
            "params": {"id": 0, "on": False},
        }
        # a Shelly answers on <src>/rpc with the request's id; was_on is the state before
        response = {
            "id": request["id"],
            "src": "shellyplusplugs-a8032ab12345",
            "dst": request["src"],
            "result": {"was_on": True},
        }
        plug.say("result/rpc", response)
        done = settled(client, world)
        plug.close()
    assert (done["status"], done["relay"]) == ("done", "off")


def test_a_shelly_rpc_error_marks_the_command_failed_with_its_message(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        plug = Plug(world, broker, "rpc")
        plug.say("status/switch:0", SHELLY_STATUS)
        plug.said_telemetry()
        issue(client, world, "relay_on")
        assert wait_for(lambda: plug.commands())
        request = orjson.loads(plug.commands()[0][1])
        assert request["params"] == {"id": 0, "on": True}
        error = {"id": request["id"], "src": "shelly", "error": {"code": -103, "message": "Switch is locked"}}
        plug.say("result/rpc", error)
        done = settled(client, world)
        plug.close()
    assert (done["status"], done["relay"], done["detail"]) == ("failed", None, "Switch is locked")


def test_a_shelly_status_whose_output_matches_completes_a_sent_command(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        plug = Plug(world, broker, "rpc")
        plug.say("status/switch:0", SHELLY_STATUS)
        plug.said_telemetry()
        issue(client, world)
        assert wait_for(lambda: plug.commands())
        # the response was lost; the notification of the switch's new output arrives
        change = {
            "src": "shelly",
            "method": "NotifyStatus",
            "params": {"ts": time.time(), "switch:0": {"output": False}},
        }
        plug.say("events/rpc", change)
        done = settled(client, world)
        plug.close()
    assert (done["status"], done["relay"]) == ("done", "off")


def test_an_esphome_plug_is_sent_off_on_its_switch_and_its_state_completes_the_command(
    world: World,
    broker: int,  # noqa: F811
) -> None:
    with served_over(world, broker) as client:
        plug = Plug(world, broker, "switch/+/command", "commands")
        plug.say("sensor/power/state", "117.9")
        plug.say("switch/relay/state", "ON")
        plug.say("sensor/power/state", "118.2")  # a second power completes a reading
        plug.said_telemetry()
        issue(client, world)
        assert wait_for(lambda: plug.commands())
        assert plug.commands() == [(f"{plug.prefix}/switch/relay/command", b"OFF")]
        plug.say("switch/relay/state", "OFF")
        done = settled(client, world)
        plug.close()
    assert (done["status"], done["relay"]) == ("done", "off")


def test_an_esphome_plug_whose_switch_is_unknown_has_its_command_wait(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        plug = Plug(world, broker, "switch/+/command", "commands")
        plug.say("sensor/power/state", "117.9")
        plug.say("sensor/power/state", "118.2")
        plug.said_telemetry()
        waits(plug, client, world)  # no switch seen: no guess of its object_id
        plug.say("switch/plug_relay/state", "ON")
        assert wait_for(lambda: plug.commands())
        plug.close()
    assert plug.commands() == [(f"{plug.prefix}/switch/plug_relay/command", b"OFF")]


def test_a_plug_that_never_spoke_has_its_command_wait_until_its_kind_is_known(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        plug = Plug(world, broker, "cmnd/#")
        waits(plug, client, world)  # not known as a Tasmota: nothing in Tasmota's language
        plug.say("tele/SENSOR", TASMOTA_SENSOR)
        assert wait_for(lambda: plug.commands())
        plug.say("stat/POWER", "OFF")
        done = settled(client, world)
        plug.close()
    assert plug.commands() == [(f"{plug.prefix}/cmnd/POWER", b"OFF")]
    assert (done["status"], done["relay"]) == ("done", "off")


def test_a_plugs_kind_survives_a_restart_of_the_server(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker):
        plug = tasmota_that_spoke(world, broker)
    with served_over(world, broker) as client:  # a new server process: nothing held in memory
        issue(client, world)
        assert wait_for(lambda: plug.commands())
        plug.close()
    assert plug.commands() == [(f"{plug.prefix}/cmnd/POWER", b"OFF")]


def test_an_energy_reset_is_refused_for_a_plug_naming_why(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        plug = tasmota_that_spoke(world, broker)
        response = client.post(
            f"/api/v1/devices/{world.meter_a}/commands", json={"action": "reset_energy"}, headers=world.auth()
        )
        plug.close()
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"meter {world.meter_a} is a Tasmota plug: it is sent only relay_off and relay_on, "
        "not reset_energy (reset its energy counter on the plug itself)"
    )
    assert history(world.client, world) == []


def test_an_overload_rule_cuts_a_tasmota_plugs_relay(world: World, broker: int) -> None:  # noqa: F811
    with served_over(world, broker) as client:
        assert client.post("/api/v1/alert-rules", json=overload_rule(world), headers=world.auth()).status_code == 201
        plug = Plug(world, broker, "cmnd/#", "commands")
        for amps in (8.0, 18.5, 19.0):
            sensor = {"ENERGY": {"Power": round(230 * amps), "Voltage": 230, "Current": amps}}
            plug.say("tele/SENSOR", sensor)
            time.sleep(0.05)  # each message takes its arrival time: keep them apart
        assert wait_for(lambda: plug.commands())
        plug.say("stat/POWER", "OFF")
        done = settled(client, world)
        (alert,) = client.get("/api/v1/alerts", headers=world.auth()).json()
        plug.close()
    assert plug.commands() == [(f"{plug.prefix}/cmnd/POWER", b"OFF")]
    assert (done["id"], done["status"], done["relay"]) == (alert["command_id"], "done", "off")


def test_a_plug_cannot_read_another_meters_commands(world: World, broker: int) -> None:  # noqa: F811
    """The ACL: meter A's login hears nothing of meter B's plug commands."""
    with served_over(world, broker) as client:
        other = publisher(broker, str(world.meter_b), world.key_b)
        other.publish(f"wattwise/{world.meter_b}/tele/SENSOR", orjson.dumps(TASMOTA_SENSOR), qos=1).wait_for_publish()
        spy = publisher(broker, str(world.meter_a), world.key_a)
        heard: list[str] = []
        spy.on_message = lambda _c, _u, msg: heard.append(msg.topic)
        spy.subscribe([(f"wattwise/{world.meter_b}/cmnd/#", 1), (f"wattwise/{world.meter_b}/rpc", 1)])
        b_heard: list[bytes] = []
        other.on_message = lambda _c, _u, msg: b_heard.append(bytes(msg.payload))
        other.subscribe(f"wattwise/{world.meter_b}/cmnd/#", qos=1)
        time.sleep(0.5)
        response = client.post(
            f"/api/v1/devices/{world.meter_b}/commands", json={"action": "relay_off"}, headers=world.auth()
        )
        assert response.status_code == 201
        assert wait_for(lambda: b_heard)
        time.sleep(0.3)
        for c in (other, spy):
            c.loop_stop()
            c.disconnect()
    assert b_heard == [b"OFF"] and heard == []
