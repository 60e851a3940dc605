"""How the gateway reaches Wattwise: the HTTP ingest API or the MQTT topics.

Both speak the data plane's device contract: a JSON array of readings per meter,
authenticated by that meter's key; commands for a meter come back in the ingest answer
(HTTP) or on ``wattwise/<device_id>/commands`` (MQTT), and results go to
``POST /api/v1/commands/<id>/result`` or ``wattwise/<device_id>/commands/result``.
"""

from __future__ import annotations

import enum
import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

TOPIC_PREFIX = "wattwise"
SESSION_EXPIRY_S = 7 * 24 * 3600
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT v5 PUBACK reason code


@dataclass(frozen=True, slots=True)
class MeterLink:
    """One meter on the bus and who it is on the server."""

    address: int
    key: str
    device_id: int | None = None  # needed for MQTT topics; HTTP knows the meter by its key


class Outcome(enum.Enum):
    """What became of a batch."""

    STORED = "stored"  # the server answered for every reading: drop them from the queue
    REFUSED = "refused"  # the server will never take these readings: drop them, count them
    TOO_BIG = "too_big"  # send fewer at a time
    RETRY = "retry"  # server unreachable or failing: keep them, try again later
    UNAUTHORIZED = "unauthorized"  # this meter's key is refused: keep them, go on with the others


@dataclass(slots=True)
class Delivery:
    """The server's answer to one batch."""

    outcome: Outcome
    detail: str = ""
    rejected: int = 0
    commands: list[dict[str, Any]] = field(default_factory=list)


class Uplink(Protocol):
    """A way to deliver readings and command results and to receive commands."""

    def send(self, meter: MeterLink, bodies: list[dict[str, Any]]) -> Delivery: ...

    def report(self, meter: MeterLink, command_id: str, result: dict[str, Any]) -> bool: ...

    def commands(self, meter: MeterLink) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def valid_commands(raw: object) -> list[dict[str, Any]]:
    """The well-formed commands in an answer; anything else is logged and ignored."""
    if not isinstance(raw, list):
        return []
    good = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("id"), str) and "action" in item:
            good.append(item)
        else:
            log.warning("ignoring malformed command %r", item)
    return good


class HttpUplink:
    """``POST /api/v1/ingest`` with the meter's key."""

    def __init__(self, server: str, *, timeout_s: float = 10.0) -> None:
        self.server = server.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        """Close connections."""
        self._client.close()

    def _post(self, meter: MeterLink, path: str, body: object) -> httpx.Response | None:
        try:
            return self._client.post(
                f"{self.server}{path}",
                content=json.dumps(body),
                headers={
                    "Authorization": f"Bearer {meter.key}",
                    "Content-Type": "application/json",
                },
            )
        except httpx.HTTPError as exc:
            log.info("server %s unreachable: %s", self.server, exc)
            return None

    def send(self, meter: MeterLink, bodies: list[dict[str, Any]]) -> Delivery:
        """Deliver one batch; see ``Outcome`` for what the caller must do next."""
        response = self._post(meter, "/api/v1/ingest", bodies)
        if response is None:
            return Delivery(Outcome.RETRY, "server unreachable")
        code = response.status_code
        if code == 413:
            return Delivery(Outcome.TOO_BIG, "413 body too large")
        if code in (200, 422):
            try:
                answer = response.json()
            except ValueError:
                return Delivery(Outcome.RETRY, f"{code} with a body that is not JSON")
            rejected = answer.get("rejected") or []
            for item in rejected:
                log.warning("meter %d: reading refused: %s", meter.address, item)
            return Delivery(
                Outcome.STORED if code == 200 else Outcome.REFUSED,
                f"{code} accepted={answer.get('accepted')} duplicates={answer.get('duplicates')}",
                rejected=len(rejected) if code == 200 else len(bodies),
                commands=valid_commands(answer.get("commands")),
            )
        if code in (401, 403):
            log.error("meter %d: the server refuses its key (%d); keeping readings", meter.address, code)
            return Delivery(Outcome.UNAUTHORIZED, f"HTTP {code}: key refused")
        return Delivery(Outcome.RETRY, f"HTTP {code}")

    def report(self, meter: MeterLink, command_id: str, result: dict[str, Any]) -> bool:
        """Send a command's result; True once the server has it (or has no such command)."""
        response = self._post(meter, f"/api/v1/commands/{command_id}/result", result)
        if response is None:
            return False
        if response.status_code == 404:
            log.warning("server knows no command %s; dropping its result", command_id)
            return True
        return response.is_success

    def commands(self, meter: MeterLink) -> list[dict[str, Any]]:
        """HTTP brings commands only in ingest answers."""
        return []


class MqttUplink:
    """One MQTT session per meter (user = device id, password = key), QoS 1 throughout.

    A batch counts as stored only when the server itself confirmed it on
    ``wattwise/<id>/ingest/result`` (accepted + duplicates + rejected = the batch), as the
    HTTP answer does: a broker's PUBACK alone does not survive the server stopping with the
    batch in flight.
    """

    def __init__(
        self,
        broker: str,
        meters: list[MeterLink],
        *,
        publish_timeout_s: float = 10.0,
        confirm_timeout_s: float = 10.0,
    ) -> None:
        host, _, port = broker.rpartition(":") if ":" in broker else (broker, "", "1883")
        self.publish_timeout_s = publish_timeout_s
        self.confirm_timeout_s = confirm_timeout_s
        self._inbox: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._clients: dict[int, mqtt.Client] = {}
        self._connected: dict[int, threading.Event] = {}
        self._acks: dict[tuple[int, int], Any] = {}  # (meter address, mid): each client counts its own mids
        #: publishes given up on: their ack, if it ever comes, must not be taken for a
        #: later publish that paho gives the same mid once its 16-bit counter wraps
        self._abandoned: set[tuple[int, int]] = set()
        self._acked = threading.Condition()
        for meter in meters:
            if meter.device_id is None:
                raise ValueError(f"meter at address {meter.address}: MQTT needs its device id (ADDR=ID:KEY)")
            self._clients[meter.address] = self._connect(meter, host or "127.0.0.1", int(port))

    def _connect(self, meter: MeterLink, host: str, port: int) -> mqtt.Client:
        inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        answers: queue.Queue[dict[str, Any]] = queue.Queue()
        connected = threading.Event()
        self._inbox[meter.address] = inbox
        self._answers[meter.address] = answers
        self._connected[meter.address] = connected
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"wattwise-gateway-{meter.device_id}",
            protocol=mqtt.MQTTv5,  # v5: a PUBACK says whether anyone subscribed
        )
        client.username_pw_set(str(meter.device_id), meter.key)
        topic = f"{TOPIC_PREFIX}/{meter.device_id}/commands"
        answer_topic = f"{TOPIC_PREFIX}/{meter.device_id}/ingest/result"

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
            if not rc.is_failure:
                c.subscribe([(topic, 1), (answer_topic, 1)])
                connected.set()
            else:
                log.error("meter %d: broker refused the login: %s", meter.address, rc)

        def on_disconnect(*_args: object) -> None:
            connected.clear()

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            try:
                raw = json.loads(msg.payload)
            except ValueError:
                log.warning("meter %d: message that is not JSON: %r", meter.address, msg.payload)
                return
            if msg.topic == answer_topic:
                if isinstance(raw, dict):
                    answers.put(raw)
                return
            for command in valid_commands(raw if isinstance(raw, list) else [raw]):
                inbox.put(command)

        def on_publish(_c: mqtt.Client, _u: object, mid: int, rc: Any, _p: object) -> None:
            with self._acked:
                key = (meter.address, mid)
                if key in self._abandoned:  # late for a publish that timed out: drop it
                    self._abandoned.discard(key)
                    return
                self._acks[key] = rc
                self._acked.notify_all()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        client.on_publish = on_publish
        client.reconnect_delay_set(min_delay=1, max_delay=8)  # a broker on the LAN: back soon
        session = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        session.SessionExpiryInterval = SESSION_EXPIRY_S  # commands sent while away are kept
        client.connect_async(host, port, keepalive=30, clean_start=False, properties=session)
        client.loop_start()
        return client

    def close(self) -> None:
        """Disconnect every session."""
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()

    def _publish(self, meter: MeterLink, topic: str, body: object) -> bool:
        """Publish with QoS 1; True once the broker acknowledged it *and* someone subscribed.

        A broker accepts readings nobody listens to (the server stopped, its session gone)
        and drops them; MQTT v5 says so in the PUBACK ("no matching subscribers"), and then
        the readings stay queued here like in any other outage.
        """
        if not self._connected[meter.address].wait(timeout=self.publish_timeout_s):
            return False
        # publish outside ``_acked``: paho calls ``on_publish`` holding its own message lock,
        # which ``publish`` takes too, so holding ``_acked`` here deadlocks both threads; an
        # ack arriving before the wait below is kept in ``_acks`` and found by it
        info = self._clients[meter.address].publish(topic, json.dumps(body), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        key = (meter.address, info.mid)
        with self._acked:
            # this publish owns the mid now: an older one given up on had its ack dropped or
            # never got one (an ack that came before this line is dropped too: a resend)
            self._abandoned.discard(key)
            if not self._acked.wait_for(lambda: key in self._acks, timeout=self.publish_timeout_s):
                self._abandoned.add(key)
                return False
            rc = self._acks.pop(key)
        if rc.is_failure or rc.value == NO_MATCHING_SUBSCRIBERS:
            log.info("meter %d: broker answered %s to %s; kept", meter.address, rc, topic)
            return False
        return True

    def send(self, meter: MeterLink, bodies: list[dict[str, Any]]) -> Delivery:
        """Publish one batch; stored once the server confirmed every reading of it."""
        answers = self._answers[meter.address]
        while not answers.empty():  # a late answer to an earlier try: that batch is resent anyway
            answers.get_nowait()
        topic = f"{TOPIC_PREFIX}/{meter.device_id}/readings"
        if not self._publish(meter, topic, bodies):
            return Delivery(Outcome.RETRY, "broker unreachable or server not subscribed")
        try:
            answer = answers.get(timeout=self.confirm_timeout_s)
        except queue.Empty:
            return Delivery(Outcome.RETRY, "the server did not confirm the batch")
        rejected = answer.get("rejected") or []
        counted = int(answer.get("accepted") or 0) + int(answer.get("duplicates") or 0) + len(rejected)
        if counted != len(bodies):
            return Delivery(Outcome.RETRY, f"the server's answer counts {counted} of {len(bodies)} readings")
        for item in rejected:
            log.warning("meter %d: reading refused: %s", meter.address, item)
        return Delivery(Outcome.STORED, f"confirmed: {answer}", rejected=len(rejected))

    def report(self, meter: MeterLink, command_id: str, result: dict[str, Any]) -> bool:
        """Publish a command's result with its id."""
        topic = f"{TOPIC_PREFIX}/{meter.device_id}/commands/result"
        return self._publish(meter, topic, {**result, "id": command_id})

    def commands(self, meter: MeterLink) -> list[dict[str, Any]]:
        """Commands received for this meter since the last call."""
        inbox = self._inbox[meter.address]
        got = []
        while not inbox.empty():
            got.append(inbox.get_nowait())
        return got
