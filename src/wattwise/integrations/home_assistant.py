"""Home Assistant MQTT discovery: a bus consumer that publishes on the server's own MQTT connection.

It shares ``MqttIngest``'s client rather than opening a second one: the broker then sees
one login (one ACL entry), and that connection's last will (``offline`` on
``wattwise/status``, retained) tells HA the moment the server that reads the meters is gone.

After each committed batch the meters in it get their latest state, at most once a second
per cycle: one rollup flush and one short read per meter then covers every batch that
arrived meanwhile, so a busy server does not flush per upload. Discovery configs (retained)
go out on each connection, when HA announces itself on ``homeassistant/status``, and when a
meter first shows a quantity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from wattwise.bus import Message
from wattwise.ingest.mqtt import MqttIngest
from wattwise.integrations import ha_discovery as ha
from wattwise.runtime import Services
from wattwise.store import rollups
from wattwise.store.devices import Device, list_devices
from wattwise.store.latest import meter_state

log = logging.getLogger(__name__)
MIN_INTERVAL_S = 1.0
FAR_FUTURE_MS = 2**62


class HomeAssistant:
    """Announces meters to HA and keeps their state topics current; ``attach`` before the client connects."""

    def __init__(self, services: Services, mqtt_ingest: MqttIngest, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self._services = services
        self._client = mqtt_ingest.client
        self._ingest = mqtt_ingest
        self._min_interval_s = min_interval_s
        self._dirty: set[int] = set()
        self._everything = True  # the first cycle announces every meter
        self._wake = asyncio.Event()
        self._announced: dict[tuple[int, str], dict[str, Any]] = {}  # the config HA last got
        self._energy = ha.Monotonic()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._availability = threading.Lock()  # a cycle's "online" never follows the final "offline"

    def attach(self) -> Callable[[], None]:
        """Start; the returned callable says ``offline`` and stops (call it before the client stops)."""
        self._loop = asyncio.get_running_loop()
        self._client.will_set(ha.AVAILABILITY_TOPIC, ha.OFFLINE, qos=1, retain=True)
        self._client.message_callback_add(ha.STATUS_TOPIC, self._on_ha_status)
        self._ingest.on_connected.append(self._on_connected)
        self._services.bus.on("readings", self._on_readings)
        self._task = asyncio.create_task(self._run())
        return self.detach

    def detach(self) -> None:
        self._services.bus.off("readings", self._on_readings)
        if self._task is not None:
            self._task.cancel()
        with self._availability:
            self._stopped = True
            if self._client.is_connected():
                info = self._client.publish(ha.AVAILABILITY_TOPIC, ha.OFFLINE, qos=1, retain=True)
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(timeout=3)

    # --- called on the event loop (bus) or on paho's thread (connection, HA status) ---

    def _on_readings(self, message: Message) -> None:
        if message.remote:  # the process that stored them publishes their state
            return
        self._dirty.update(item.reading.device_id for item in message.payload)
        self._wake.set()

    def _announce_everything(self) -> None:
        self._everything = True
        self._wake.set()

    def _on_connected(self, client: mqtt.Client) -> None:
        client.subscribe(ha.STATUS_TOPIC, qos=0)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._announce_everything)

    def _on_ha_status(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        client.ack(msg.mid, msg.qos)
        if msg.payload == ha.ONLINE.encode():
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._announce_everything)

    # --- the publishing cycle ---

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._client.is_connected():
                continue  # the next connection announces everything
            everything, devices = self._everything, self._dirty
            self._everything, self._dirty = False, set()
            try:
                await asyncio.to_thread(self._publish, everything, devices)
            except Exception:
                log.exception("Home Assistant: publishing meter states failed; retried with the next batch")
                self._everything = self._everything or everything
                self._dirty |= devices
            await asyncio.sleep(self._min_interval_s)

    def _publish(self, everything: bool, wanted: set[int]) -> None:
        """Discovery (all meters, or those showing a new quantity) and the state of ``wanted`` meters."""
        services = self._services
        with services.engine.connect() as conn:
            meters = {d.id: d for d in list_devices(conn)}
            ids = sorted(meters) if everything else sorted(wanted & meters.keys())
            pending = any(rollups.pending(conn, d, 0, FAR_FUTURE_MS) for d in ids)
        if pending:
            services.writer.flush()  # the stored energy must include the batch just committed
        if everything:
            self._send(*ha.server_config())
            with self._availability:
                if self._stopped:
                    return
                self._client.publish(ha.AVAILABILITY_TOPIC, ha.ONLINE, qos=1, retain=True)
            self._announced.clear()
        with services.engine.connect() as conn:
            for device_id in ids:
                state = meter_state(conn, device_id)
                self._announce(meters[device_id], ha.measured(state))
                payload = ha.state_payload(state, self._energy.kwh(device_id, state.energy_wh))
                self._send(ha.state_topic(device_id), payload)

    def _announce(self, device: Device, quantities: list[ha.Quantity]) -> None:
        """Configs HA has not got yet, or got before the meter was renamed or moved."""
        for quantity in quantities:
            config = ha.sensor_config(device, quantity)
            if self._announced.get((device.id, quantity.key)) != config:
                self._send(ha.config_topic(device.id, quantity), config)
                self._announced[(device.id, quantity.key)] = config

    def _send(self, topic: str, payload: dict[str, Any]) -> None:
        self._client.publish(topic, orjson.dumps(payload), qos=1, retain=True)


def attach(services: Services, mqtt_ingest: MqttIngest) -> Callable[[], None]:
    """Start Home Assistant discovery on the server's MQTT connection; returns the detach."""
    return HomeAssistant(services, mqtt_ingest).attach()
