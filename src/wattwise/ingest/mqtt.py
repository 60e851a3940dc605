"""MQTT adapter: meters publish the HTTP ingest JSON to ``wattwise/<device_id>/readings``.

Who may publish as which meter is the broker's job: ``wattwise mqtt credentials`` writes a
Mosquitto password file (user = device id, password = device key) and an ACL that lets each
meter write only its own topic. The server subscribes through a shared subscription
(``$share/<group>/…``) so several server processes split the load, and it acknowledges a
QoS 1 message (PUBACK) only after the readings are committed — an unacknowledged message is
delivered again when the connection is re-established.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wattwise.ingest.pipeline import IngestResult
from wattwise.runtime import Services
from wattwise.store.devices import get_device
from wattwise.store.errors import NotFound

log = logging.getLogger(__name__)
TOPIC_PREFIX = "wattwise"
READINGS_FILTER = f"{TOPIC_PREFIX}/+/readings"


def parse_broker(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "1883")
    return host or "127.0.0.1", int(port or 1883)


def device_from_topic(topic: str) -> int | None:
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == TOPIC_PREFIX and parts[2] == "readings" and parts[1].isdigit():
        return int(parts[1])
    return None


def result_payload(result: IngestResult) -> bytes:
    return orjson.dumps(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [{"index": r.index, "errors": r.errors} for r in result.rejected],
        }
    )


class MqttIngest:
    """Owns one paho client whose network thread hands messages to the pipeline's event loop."""

    def __init__(
        self,
        services: Services,
        host: str,
        port: int,
        *,
        username: str = "",
        password: str = "",
        group: str = "wattwise",
    ) -> None:
        self._services = services
        self._host, self._port = host, port
        self._group = group
        self._loop: asyncio.AbstractEventLoop | None = None
        self._known: set[int] = set()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"wattwise-server-{id(self):x}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if username:
            self.client.username_pw_set(username, password or None)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    @classmethod
    def from_settings(cls, services: Services) -> MqttIngest:
        s = services.settings
        host, port = parse_broker(s.mqtt)
        return cls(
            services,
            host,
            port,
            username=s.mqtt_username,
            password=s.mqtt_password,
            group=s.mqtt_shared_group,
        )

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", self._host, self._port, reason)
            return
        topic = f"$share/{self._group}/{READINGS_FILTER}" if self._group else READINGS_FILTER
        client.subscribe(topic, qos=1)
        log.info("listening for readings on MQTT %s:%s (%s)", self._host, self._port, topic)

    def _exists(self, device_id: int) -> bool:
        if device_id in self._known:
            return True
        with self._services.engine.connect() as conn:
            try:
                get_device(conn, device_id)
            except NotFound:
                return False
        self._known.add(device_id)
        return True

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        device_id = device_from_topic(msg.topic)
        if device_id is None or not self._exists(device_id):
            log.warning("MQTT: ignored %s (no such meter)", msg.topic)
            client.ack(msg.mid, msg.qos)
            return
        try:
            payload = orjson.loads(msg.payload)
        except orjson.JSONDecodeError as exc:
            log.warning("MQTT: meter %s sent invalid JSON: %s", device_id, exc)
            self._reply(device_id, orjson.dumps({"error": f"body: not valid JSON ({exc})"}))
            client.ack(msg.mid, msg.qos)
            return
        items = payload if isinstance(payload, list) else [payload]
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._services.pipeline.ingest(device_id, items), self._loop)
        future.add_done_callback(lambda f: self._done(f, device_id, msg))

    def _done(self, future: Future[IngestResult], device_id: int, msg: mqtt.MQTTMessage) -> None:
        try:
            result = future.result()
        except Exception:
            log.exception("MQTT: storing readings of meter %s failed; not acknowledged", device_id)
            return
        self.client.ack(msg.mid, msg.qos)
        if result.rejected:
            log.warning(
                "MQTT: meter %s: %d readings rejected: %s",
                device_id,
                len(result.rejected),
                result.rejected[0].errors,
            )
        self._reply(device_id, result_payload(result))

    def _reply(self, device_id: int, body: bytes) -> None:
        self.client.publish(f"{TOPIC_PREFIX}/{device_id}/ingest/result", body, qos=0)
