"""Simulated meters publish on their own topics through the real Mosquitto broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wattwise.devices.simulator.delivery import DeliveryError, MeterIdentity
from wattwise.devices.simulator.mqtt_driver import MqttSender
from wattwise.devices.simulator.runner import RunPlan, run

BROKER = ("127.0.0.1", 1883)
MONDAY_MS = 1_763_942_400_000


def _need_broker() -> None:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return
    except OSError:
        message = f"Mosquitto is not listening on {BROKER[0]}:{BROKER[1]}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI=true: required)")
        pytest.skip(message)


class Listener:
    """Subscribes to every meter's readings and keeps what arrives, per topic."""

    def __init__(self) -> None:
        self.messages: dict[str, list[Any]] = {}
        self.count = 0
        self.changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("wattwise/+/readings", qos=1)
        self.client.on_subscribe = lambda c, u, m, r, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(*BROKER)
        self.client.loop_start()
        assert self._subscribed.wait(10), "could not subscribe"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.changed:
            self.messages.setdefault(message.topic, []).append(json.loads(message.payload))
            self.count += 1
            self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count >= count, timeout=20), self.count


@pytest.fixture
def listener() -> Iterator[Listener]:
    _need_broker()
    listen = Listener()
    yield listen
    listen.client.disconnect()
    listen.client.loop_stop()


async def test_each_meter_publishes_live_readings_on_its_own_topic(listener: Listener) -> None:
    ids = [f"simtest-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    meters = tuple(MeterIdentity(index=i, device_id=d) for i, d in enumerate(ids))
    sender = MqttSender(*BROKER)
    plan = RunPlan(meters=meters, seed=9, interval_ms=1000, start_ms=MONDAY_MS, count=4, speed=1e6)
    summary = await run(plan, sender)
    await sender.aclose()
    assert summary.result.sent == 8  # every PUBACK came back
    listener.wait_for(8)
    for device_id in ids:
        readings = listener.messages[f"wattwise/{device_id}/readings"]
        assert [r["ts"] for r in readings] == [MONDAY_MS + 1000 * k for k in range(1, 5)]
        assert set(readings[0]) == {"ts", "voltage", "current", "power", "energy", "frequency", "pf"}


async def test_history_is_published_as_arrays_of_readings(listener: Listener) -> None:
    device_id = f"simtest-{uuid.uuid4().hex[:8]}"
    sender = MqttSender(*BROKER, batch=100)
    plan = RunPlan(
        meters=(MeterIdentity(index=0, device_id=device_id),),
        interval_ms=10_000,
        start_ms=MONDAY_MS + 3_600_000,
        backfill_ms=3_600_000,
        count=0,
        batch=360,
    )
    await run(plan, sender)
    await sender.aclose()
    listener.wait_for(4)
    batches = listener.messages[f"wattwise/{device_id}/readings"]
    assert [len(b) for b in batches] == [100, 100, 100, 60]
    assert [r["ts"] for b in batches for r in b] == [MONDAY_MS + 10_000 * k for k in range(1, 361)]


@pytest.fixture
def private_broker(tmp_path: Path, mosquitto) -> int:  # type: ignore[no-untyped-def]
    """A Mosquitto of our own that knows one meter, "7" with key "key-7", and no one else."""
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "7", "key-7"], check=True, capture_output=True)
    port: int = mosquitto(passwd)
    return port


async def test_a_meter_logs_in_with_its_device_id_and_key(private_broker: int) -> None:
    sender = MqttSender("127.0.0.1", private_broker)
    meter = MeterIdentity(index=0, device_id="7", key="key-7")
    result = await sender.send(meter, [{"ts": MONDAY_MS, "power": 1.0}])
    await sender.aclose()
    assert result.sent == 1  # acknowledged by a broker that refuses strangers


async def test_a_wrong_key_is_refused_by_the_broker_with_a_clear_error(private_broker: int) -> None:
    sender = MqttSender("127.0.0.1", private_broker)
    meter = MeterIdentity(index=0, device_id="7", key="stolen")
    with pytest.raises(DeliveryError, match=r"refused 7@127.0.0.1:\d+: Not authorized"):
        await sender.send(meter, [{"ts": MONDAY_MS, "power": 1.0}])
    await sender.aclose()
