"""Publish readings to ``wattwise/<device_id>/readings`` with QoS 1 (paho-mqtt 2.x).

A live reading goes out as one JSON object, history as JSON arrays of up to ``batch``
readings. A send returns once the broker has acknowledged every message (PUBACK).

Credentials follow the broker files Wattwise generates: the username is the device id
and the password the device key, so each meter with a key gets its own connection.
Meters without a key (an anonymous broker) share one connection; explicit
``username``/``password`` apply to every meter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wattwise.devices.simulator.delivery import (
    DeliveryError,
    DeliveryUnavailable,
    MeterIdentity,
    Row,
    SendResult,
)

log = logging.getLogger(__name__)

TOPIC = "wattwise/{device_id}/readings"


def topic_for(device_id: str) -> str:
    """The topic a meter publishes its readings on."""
    return TOPIC.format(device_id=device_id)


class _Connection:
    """One paho client with its network thread, connected before use."""

    def __init__(
        self, host: str, port: int, username: str | None, password: str | None, client_id: str, timeout_s: float
    ) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        if username is not None:
            self.client.username_pw_set(username, password)
        self._connected = threading.Event()
        self._refusal: str | None = None
        self.client.on_connect = self._on_connect
        self.describe = f"{username or 'anonymous'}@{host}:{port}"
        try:
            self.client.connect(host, port, keepalive=60)
        except OSError as exc:
            raise DeliveryUnavailable(f"MQTT broker {host}:{port} unreachable: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise DeliveryUnavailable(f"MQTT broker {host}:{port} did not answer CONNECT")
        if self._refusal is not None:
            self.close()
            raise DeliveryError(f"MQTT broker refused {self.describe}: {self._refusal}")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refusal = str(reason)
        self._connected.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class MqttSender:
    """Publishes each meter's readings on its own topic and waits for the broker's PUBACKs."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        batch: int = 500,
        timeout_s: float = 30.0,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.host, self.port = host, port
        self._username, self._password = username, password
        self._batch = batch
        self._timeout_s = timeout_s
        self._connections: dict[str, _Connection] = {}
        self._lock = threading.Lock()

    def _connection(self, meter: MeterIdentity) -> _Connection:
        if self._username is not None:
            name, user, password = "shared", self._username, self._password
        elif meter.key is not None and meter.device_id is not None:
            name, user, password = meter.device_id, meter.device_id, meter.key
        else:
            name, user, password = "anonymous", None, None
        with self._lock:
            if name not in self._connections:
                client_id = f"wattwise-sim-{name}-{id(self):x}"
                self._connections[name] = _Connection(self.host, self.port, user, password, client_id, self._timeout_s)
            return self._connections[name]

    def _publish(self, meter: MeterIdentity, rows: list[Row]) -> SendResult:
        if meter.device_id is None:
            raise DeliveryError(
                f"meter {meter.label} has no device id for its MQTT topic: pass --keys-file "
                "(lines `device_id key`) or --device-id"
            )
        connection = self._connection(meter)
        topic = topic_for(meter.device_id)
        if len(rows) == 1:
            payloads = [orjson.dumps(rows[0])]
        else:
            payloads = [orjson.dumps(rows[i : i + self._batch]) for i in range(0, len(rows), self._batch)]
        infos = [connection.client.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            try:
                info.wait_for_publish(self._timeout_s)
            except (RuntimeError, ValueError) as exc:
                raise DeliveryUnavailable(f"publishing to {topic} failed: {exc}") from exc
            if not info.is_published():
                raise DeliveryUnavailable(
                    f"broker {connection.describe} did not acknowledge {topic} in {self._timeout_s} s"
                )
        return SendResult(sent=len(rows))

    async def send(self, meter: MeterIdentity, rows: list[Row]) -> SendResult:
        """Publish ``rows`` of ``meter`` and wait until the broker has them (QoS 1)."""
        return await asyncio.to_thread(self._publish, meter, rows)

    async def aclose(self) -> None:
        """Disconnect every connection."""
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            await asyncio.to_thread(connection.close)
