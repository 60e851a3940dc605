"""The app as served, with its own alert engine: a meter on MQTT overloads, and the relay_off
command of an overload rule reaches it on ``wattwise/<id>/commands`` through a real Mosquitto."""

from __future__ import annotations

import time

import orjson
from fastapi.testclient import TestClient

from ingest.test_mqtt_ingest import SERVER_PASSWORD, broker, publisher, wait_for  # noqa: F401  (broker: fixture)
from support import World
from wattwise.api.app import create_app
from wattwise.store.clock import now_ms


def overload_rule(world: World) -> dict[str, object]:
    """Meter A's overload rule: above 16 A (clear below 14 A), cutting the relay."""
    return {
        "site_id": world.site_a,
        "device_id": world.meter_a,
        "name": "Overload",
        "kind": "threshold",
        "params": {"quantity": "current", "direction": "above", "trigger": 16, "clear": 14},
        "relay_off": True,
    }


def test_an_overload_on_an_mqtt_meter_switches_its_relay_off(world: World, broker: int) -> None:  # noqa: F811
    settings = world.services.settings.model_copy(
        update={"mqtt": f"127.0.0.1:{broker}", "mqtt_username": "wattwise-server", "mqtt_password": SERVER_PASSWORD}
    )
    world.services.settings = settings
    with TestClient(create_app(services=world.services)) as client:  # alerts on, as served
        assert client.post("/api/v1/alert-rules", json=overload_rule(world), headers=world.auth()).status_code == 201
        meter = publisher(broker, str(world.meter_a), world.key_a)
        received: list[dict[str, object]] = []
        meter.on_message = lambda _c, _u, msg: received.append(orjson.loads(msg.payload))
        meter.subscribe(f"wattwise/{world.meter_a}/commands", qos=1)
        time.sleep(0.5)
        t = now_ms() - 60_000
        batch = [{"ts": t + i * 1000, "current": a, "voltage": 230.0} for i, a in enumerate([8.0, 18.5, 19.0])]
        meter.publish(f"wattwise/{world.meter_a}/readings", orjson.dumps(batch), qos=1).wait_for_publish()
        assert wait_for(lambda: received)
        meter.loop_stop()
        meter.disconnect()
        (alert,) = client.get("/api/v1/alerts", headers=world.auth()).json()
    assert received == [{"id": str(alert["command_id"]), "action": "relay_off"}]
    assert (
        alert["message"] == "main (Home A): Current above 16 A (18.5 A now); the meter was told to switch its relay off"
    )
