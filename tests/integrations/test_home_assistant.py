"""Home Assistant MQTT discovery, seen by a client logged in as Home Assistant on a real Mosquitto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

import wattwise
from support import World, free_port, wattwise_broker
from wattwise import __version__
from wattwise.api.app import create_app
from wattwise.integrations.ha_discovery import Monotonic

SERVER_PASSWORD = "server-secret-1"
HA_PASSWORD = "ha-secret-1"
T0 = 1_764_000_000_000
ORIGIN = {"name": "Wattwise", "sw_version": __version__}


class HomeAssistantClient:
    """Subscribed as HA is: keeps every message per topic (retained ones arrive first)."""

    def __init__(self, port: int) -> None:
        self.messages: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="home-assistant")
        self.client.username_pw_set("homeassistant", HA_PASSWORD)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("homeassistant/#", 1), ("wattwise/+/state", 1), ("wattwise/status", 1)])
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.setdefault(msg.topic, []).append(msg.payload)

    def last(self, topic: str) -> Any:
        with self._lock:
            payloads = self.messages.get(topic)
        if not payloads:
            return None
        return payloads[-1].decode() if topic == "wattwise/status" else orjson.loads(payloads[-1])

    def count(self, topic: str) -> int:
        with self._lock:
            return len(self.messages.get(topic, []))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def broker(world: World, tmp_path: Path) -> Iterator[int]:
    args = ("--server-password", SERVER_PASSWORD, "--ha-password", HA_PASSWORD)
    with wattwise_broker(world, tmp_path, *args) as port:
        world.services.settings = world.services.settings.model_copy(
            update={"mqtt": f"127.0.0.1:{port}", "mqtt_username": "wattwise-server", "mqtt_password": SERVER_PASSWORD}
        )
        yield port


@pytest.fixture
def home_assistant(broker: int) -> Iterator[HomeAssistantClient]:
    ha = HomeAssistantClient(broker)
    yield ha
    ha.close()


def stored_kwh(world: World, device_id: int) -> float:
    with world.services.engine.connect() as conn:
        wh = conn.execute(text("SELECT sum(wh) FROM readings WHERE device_id = :d"), {"d": device_id}).scalar_one()
    return round(float(wh) / 1000, 6)


def test_a_new_meter_appears_in_home_assistant_with_its_quantities_and_state(
    world: World, home_assistant: HomeAssistantClient
) -> None:
    ha = home_assistant
    with TestClient(create_app(services=world.services)) as client:
        assert wait_for(lambda: ha.last("wattwise/status") == "online")
        assert ha.last("homeassistant/binary_sensor/wattwise/status/config") == {
            "name": "Server",
            "unique_id": "wattwise_status",
            "state_topic": "wattwise/status",
            "payload_on": "online",
            "payload_off": "offline",
            "device_class": "connectivity",
            "device": {
                "identifiers": ["wattwise"],
                "name": "Wattwise",
                "manufacturer": "Wattwise",
                "sw_version": __version__,
            },
            "origin": ORIGIN,
        }
        created = client.post(
            "/api/v1/devices", json={"site_id": world.site_a, "name": "Kitchen"}, headers=world.auth()
        ).json()
        meter, key = created["id"], created["key"]
        full = {"voltage": 230.5, "current": 1.3, "power": 300.0, "frequency": 50.02, "pf": 0.95}
        batch = [{"ts": T0, "energy": 1000.0, **full}, {"ts": T0 + 60_000, "energy": 1005.0, **full}]
        world.ingest(batch, key=key)
        prefix = f"homeassistant/sensor/wattwise_{meter}"
        assert wait_for(lambda: ha.last(f"{prefix}/power_factor/config") is not None)
        device = {
            "identifiers": [f"wattwise_{meter}"],
            "name": "Kitchen",
            "manufacturer": "Wattwise",
            "model": "Wattwise meter",
            "suggested_area": "Home A",
            "via_device": "wattwise",
        }
        common = {
            "state_topic": f"wattwise/{meter}/state",
            "availability_topic": "wattwise/status",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": ORIGIN,
        }
        assert ha.last(f"{prefix}/power/config") == {
            **common,
            "name": "Power",
            "unique_id": f"wattwise_{meter}_power",
            "value_template": "{{ value_json.power }}",
            "device_class": "power",
            "state_class": "measurement",
            "unit_of_measurement": "W",
            "suggested_display_precision": 1,
        }
        assert ha.last(f"{prefix}/energy/config") == {
            **common,
            "name": "Energy",
            "unique_id": f"wattwise_{meter}_energy",
            "value_template": "{{ value_json.energy }}",
            "device_class": "energy",
            "state_class": "total_increasing",
            "unit_of_measurement": "kWh",
            "suggested_display_precision": 3,
        }
        pf = ha.last(f"{prefix}/power_factor/config")
        assert (pf["device_class"], pf["value_template"]) == ("power_factor", "{{ value_json.power_factor }}")
        assert "unit_of_measurement" not in pf  # a 0…1 ratio
        units = {
            q: ha.last(f"{prefix}/{q}/config").get("unit_of_measurement") for q in ("voltage", "current", "frequency")
        }
        assert units == {"voltage": "V", "current": "A", "frequency": "Hz"}
        expected = {"ts": T0 + 60_000, "voltage": 230.5, "current": 1.3, "power": 300.0, "energy": 0.005}
        expected |= {"frequency": 50.02, "power_factor": 0.95}
        assert wait_for(lambda: ha.last(f"wattwise/{meter}/state") == expected), ha.last(f"wattwise/{meter}/state")
        assert stored_kwh(world, meter) == 0.005

        # the next batch: the state follows with the stored energy, in kWh
        world.ingest([{"ts": T0 + 120_000, "energy": 1012.5, **full, "power": 450.0}], key=key)
        assert wait_for(lambda: ha.last(f"wattwise/{meter}/state")["power"] == 450.0)
        assert ha.last(f"wattwise/{meter}/state")["energy"] == stored_kwh(world, meter) == 0.0125

        # a meter that measures only power gets only power and energy
        world.ingest([{"ts": T0, "power": 80.0}])
        assert wait_for(lambda: (ha.last(f"wattwise/{world.meter_a}/state") or {}).get("power") == 80.0)
        announced = sorted(
            t.split("/")[3] for t in ha.messages if t.startswith(f"homeassistant/sensor/wattwise_{world.meter_a}/")
        )
        assert announced == ["energy", "power"]
        assert ha.last(f"wattwise/{world.meter_a}/state") == {
            "ts": T0,
            "voltage": None,
            "current": None,
            "power": 80.0,
            "energy": 0.0,
            "frequency": None,
            "power_factor": None,
        }
    assert wait_for(lambda: ha.last("wattwise/status") == "offline")  # the server stopped


def test_configs_are_announced_again_when_home_assistant_restarts_or_the_meter_is_renamed(
    world: World, home_assistant: HomeAssistantClient
) -> None:
    ha = home_assistant
    topic = f"homeassistant/sensor/wattwise_{world.meter_a}/power/config"
    with TestClient(create_app(services=world.services)):
        world.ingest([{"ts": T0, "power": 80.0}])
        assert wait_for(lambda: ha.count(topic) == 1)
        ha.client.publish("homeassistant/status", "online", qos=1).wait_for_publish()
        assert wait_for(lambda: ha.count(topic) == 2)
        world.ingest([{"ts": T0 + 1000, "power": 81.0}])  # nothing new to announce
        assert wait_for(lambda: ha.last(f"wattwise/{world.meter_a}/state")["power"] == 81.0)
        assert ha.count(topic) == 2
        with world.services.engine.begin() as conn:  # renamed in the database (no API for it yet)
            conn.execute(text("UPDATE devices SET name = 'Garage' WHERE id = :d"), {"d": world.meter_a})
        world.ingest([{"ts": T0 + 2000, "power": 82.0}])
        assert wait_for(lambda: ha.last(topic)["device"]["name"] == "Garage")


def test_the_retained_configs_reach_a_home_assistant_that_connects_later(
    world: World, broker: int, home_assistant: HomeAssistantClient
) -> None:
    state_topic = f"wattwise/{world.meter_a}/state"
    with TestClient(create_app(services=world.services)):
        world.ingest([{"ts": T0, "power": 80.0, "voltage": 231.0}])
        assert wait_for(lambda: (home_assistant.last(state_topic) or {}).get("voltage") == 231.0)
        late = HomeAssistantClient(broker)
        try:
            assert wait_for(lambda: late.last(state_topic) is not None and late.last("wattwise/status") == "online")
            assert late.last(state_topic)["voltage"] == 231.0
            config = late.last(f"homeassistant/sensor/wattwise_{world.meter_a}/voltage/config")
            assert config["unit_of_measurement"] == "V"
        finally:
            late.close()


def test_home_assistant_sees_the_server_go_offline_when_it_dies(
    world: World, broker: int, home_assistant: HomeAssistantClient
) -> None:
    """kill -9 sends no goodbye: the broker publishes the connection's last will instead."""
    source = str(Path(wattwise.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (source, os.environ.get("PYTHONPATH"))))}
    args = ["--database", str(world.services.engine.url), "serve", "--port", str(free_port())]
    args += ["--mqtt", f"127.0.0.1:{broker}", "--mqtt-username", "wattwise-server", "--mqtt-password", SERVER_PASSWORD]
    server = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: home_assistant.last("wattwise/status") == "online", timeout=60)
        os.kill(server.pid, signal.SIGKILL)
        assert wait_for(lambda: home_assistant.last("wattwise/status") == "offline")
    finally:
        server.kill()
        server.wait()


def test_the_energy_home_assistant_sees_never_goes_down() -> None:
    shown = Monotonic()
    assert [shown.kwh(1, wh) for wh in (1000.0, 1500.0, 1499.0, 2000.0)] == [1.0, 1.5, 1.5, 2.0]
    assert shown.kwh(2, 10.0) == 0.01  # per meter
