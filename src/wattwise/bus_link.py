"""Join the in-process buses of several Wattwise processes through the MQTT broker.

One process is enough for a home; a campus runs several API/ingest processes behind a proxy.
Each then stores only what it received, and its bus carries only that: a dashboard served by
one process would miss the readings another stored, and a label given through one would never
reach the detectors running in another. The link publishes every message of its bus (after
the commit, as the bus itself) on ``wattwise/bus/v1/<topic>`` and hands what the other processes
publish there to its own bus, marked ``remote``. The broker does the fan-out; there is no
clustering of our own.

MQTT 5's *no local* option keeps a process's own messages from coming back to it, and a
message that arrived over the link is never sent out again, so nothing loops. The session is
persistent (QoS 1): what the others publish while this process restarts waits in the broker
(up to the broker's queue limit, Mosquitto's ``max_queued_messages``).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from wattwise.bus import Bus, Message
from wattwise.config import Settings, broker_address
from wattwise.domain.readings import Reading, StoredReading
from wattwise.mqtt_session import connect_persistent, server_client
from wattwise.store.commands import Command, Manifest

log = logging.getLogger(__name__)

#: Four levels, not ``wattwise/bus/<topic>``: that would match the meters' topics
#: ``wattwise/+/readings`` and ``wattwise/+/commands`` the server's MQTT ingest and the meters'
#: ACL use. ``v1`` names the payloads' format.
PREFIX = "wattwise/bus/v1"
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_readings(stored: list[StoredReading]) -> Any:
    """One row per reading: a fifth of the bytes of a list of objects."""
    return [
        [r.device_id, r.ts, r.voltage, r.current, r.power, r.energy, r.frequency, r.pf, s.wh]
        for s in stored
        for r in (s.reading,)
    ]


def decode_readings(rows: Any) -> list[StoredReading]:
    return [
        StoredReading(
            reading=Reading(device_id=d, ts=ts, voltage=v, current=i, power=p, energy=e, frequency=f, pf=pf), wh=wh
        )
        for d, ts, v, i, p, e, f, pf, wh in rows
    ]


def _same(payload: Any) -> Any:
    return payload


@dataclasses.dataclass(frozen=True, slots=True)
class Codec:
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


_COMMAND = Codec(dataclasses.asdict, lambda d: Command(**d))
_PLAIN = Codec(_same, _same)

#: How each topic's payload crosses the broker. A topic missing here stays in its process.
CODECS: dict[str, Codec] = {
    "readings": Codec(encode_readings, decode_readings),
    "events": _PLAIN,  # NILM events and runs, as dicts
    "findings": _PLAIN,
    "feedback": _PLAIN,  # a person's verdict on a finding: the detectors learn from it
    "appliances": _PLAIN,  # a label, rename or merge: the detectors' library changed
    "balance": _PLAIN,  # a period vouched clean: the energy balance learns its base from it
    "alerts": _PLAIN,
    "alert_rules": _PLAIN,  # a rule or channel saved or removed: the alert engine reloads
    "commands": _COMMAND,
    "command_results": _COMMAND,
    "ota": Codec(Manifest.as_json, lambda d: Manifest(**d)),
}


def encode(message: Message, origin: str = "", seq: int = 0) -> bytes | None:
    """The bytes to publish for ``message``, or None when it does not cross processes.

    ``origin`` names the sending process and ``seq`` numbers its messages, so that a receiver
    can tell when the broker dropped some (it does, past its queue limit) instead of missing
    them silently."""
    codec = CODECS.get(message.topic)
    if codec is None or message.remote:
        return None
    return orjson.dumps([origin, seq, codec.encode(message.payload)], option=_JSON_OPTIONS)


def decode(topic: str, body: bytes) -> tuple[str, int, Any]:
    """Origin, number and payload of a message received for ``topic``; ValueError when unreadable."""
    codec = CODECS.get(topic)
    if codec is None:
        raise ValueError(f"no bus topic {topic!r}")
    try:
        origin, seq, data = orjson.loads(body)
        return str(origin), int(seq), codec.decode(data)
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{topic}: unreadable payload ({exc})") from exc


class BusLink:
    """Owns one paho client: the bus's messages go out on it, the others' come in on its thread."""

    def __init__(
        self,
        bus: Bus,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str = "",
        password: str = "",
        session_expiry_s: int = 3_600,
        queue_limit: int = 10_000,
    ) -> None:
        self._bus = bus
        self._host, self._port = host, port
        self._session_expiry_s = session_expiry_s
        self._queue_limit = queue_limit
        self.client = server_client(client_id, username, password)
        self.client.max_inflight_messages_set(1_000)
        # what waits for the broker (unacknowledged or not yet sent): bounded, or a broker down
        # for an hour would keep every batch of that hour in this process's memory; the others
        # count what was not sent as missed (the numbers skip it)
        self.client.max_queued_messages_set(queue_limit)
        self._full = False  # said once per outage that messages are being left out
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        # who this process is on the link: a new name at each start, so numbering restarts cleanly
        self.origin = f"{client_id}-{secrets.token_hex(3)}"
        self.sent = 0
        self.left_out = 0  # not handed to the broker: its queue for the broker was full
        self.received = 0
        self.missed = 0  # messages of the other processes the broker dropped before they got here
        self._last_seq: dict[str, int] = {}

    @classmethod
    def from_settings(cls, bus: Bus, settings: Settings) -> BusLink:
        host, port = broker_address(settings.bus_link)
        # stable per process, so that its persistent session survives a restart
        client_id = f"wattwise-link-{socket.gethostname()}-{settings.port}"
        return cls(
            bus, host, port, client_id=client_id, username=settings.mqtt_username, password=settings.mqtt_password
        )

    def start(self) -> BusLink:
        """Call on the bus's event loop (the received messages are handed to it)."""
        for topic in CODECS:
            self._bus.on(topic, self._send)
        connect_persistent(self.client, self._host, self._port, self._session_expiry_s)
        return self

    def stop(self) -> None:
        for topic in CODECS:
            self._bus.off(topic, self._send)
        self.client.disconnect()
        self.client.loop_stop()

    def _send(self, message: Message) -> None:
        try:
            # numbered among every message meant for the others, sent or left out: a gap tells
            # them what they missed
            body = encode(message, self.origin, self.sent + self.left_out + 1)
        except (TypeError, orjson.JSONEncodeError):
            log.exception("bus link: cannot send a %s message to the other processes", message.topic)
            return
        if body is None:
            return
        full = self.client.publish(f"{PREFIX}/{message.topic}", body, qos=1).rc == mqtt.MQTT_ERR_QUEUE_SIZE
        if full:
            self.left_out += 1
        else:
            self.sent += 1
        if full and not self._full:
            log.warning(
                "bus link: %d messages wait for the broker (unreachable or slow): leaving out the next",
                self._queue_limit,
            )
        self._full = full

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if reason.is_failure:
            log.error("bus link: broker %s:%s refused the connection: %s", self._host, self._port, reason)
            return
        client.subscribe(f"{PREFIX}/+", options=SubscribeOptions(qos=1, noLocal=True))
        log.info("bus link: joined the other Wattwise processes on %s:%s (%s/+)", self._host, self._port, PREFIX)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic.removeprefix(PREFIX + "/")
        try:
            origin, seq, payload = decode(topic, bytes(msg.payload))
        except ValueError as exc:
            log.warning("bus link: ignored a message on %s: %s", msg.topic, exc)
            return
        if self._count(origin, seq):
            self._bus.publish_from_thread(topic, payload, remote=True)

    def _count(self, origin: str, seq: int) -> bool:
        """True for a message not seen before; False for a second copy. QoS 1 is at least once:
        a message unacknowledged when a connection dropped is sent again. The broker keeps each
        sender's order (MQTT's ordered topics), so a number not above the last is a copy."""
        last = self._last_seq.get(origin)
        if last is not None and seq <= last:
            return False
        self._last_seq[origin] = seq
        self.received += 1
        if last is not None and seq > last + 1:
            self.missed += seq - last - 1
            log.warning(
                "bus link: %d messages of %s never arrived (the broker dropped them: raise its "
                "max_queued_messages, see docs/scale.md)",
                seq - last - 1,
                origin,
            )
        return True
