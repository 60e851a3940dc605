"""MQTT adapter: meters publish the HTTP ingest JSON to ``wattwise/<device_id>/readings``.

Smart plugs (Tasmota, Shelly Gen2, ESPHome) publish their own payloads under the same
``wattwise/<device_id>/`` tree; ``plugs.py`` turns them into readings for the same pipeline.
Commands to a meter known to be a plug (``store/plugs.py``, learnt from its messages) go out
in the plug's own language, and its answer settles them through ``command_results``.

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
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from wattwise.bus import Message
from wattwise.config import broker_address
from wattwise.ingest import command_results, plugs
from wattwise.ingest.formats import RELAY_WANTED, Item, PayloadError, Unsendable
from wattwise.ingest.pipeline import KEY_CACHE_S, IngestResult
from wattwise.mqtt_session import connect_persistent, server_client
from wattwise.runtime import Services
from wattwise.store import commands as command_store
from wattwise.store import plugs as plug_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import get_device, list_devices
from wattwise.store.errors import NotFound

log = logging.getLogger(__name__)
RESEND_AFTER_MS = 30_000
TOPIC_PREFIX = "wattwise"
READINGS_FILTER = f"{TOPIC_PREFIX}/+/readings"
RESULTS_FILTER = f"{TOPIC_PREFIX}/+/commands/result"
PLUG_FILTERS = tuple(f"{TOPIC_PREFIX}/+/{tail}" for tail in plugs.TOPIC_FILTERS)


def meter_topic(topic: str) -> tuple[int, str] | None:
    """The meter id and the rest in ``wattwise/<id>/<rest>``, or None for any other topic."""
    prefix, _, rest = topic.partition("/")
    device, _, tail = rest.partition("/")
    if prefix == TOPIC_PREFIX and device.isdigit() and tail:
        return int(device), tail
    return None


def _read_plug(device_id: int, tail: str, payload: bytes, at_ms: int, held: Any) -> tuple[list[Item], Any]:
    """A plug message's readings, read against what the plug held, and what to hold next
    (``Pipeline.ingest_held`` reads and replaces it where the readings are stored). An
    unreadable message makes nothing and changes nothing: raised, it would fail the writer's
    transaction."""
    try:
        items, now_held, note = plugs.translate(tail, payload, held, at_ms)
    except PayloadError as exc:
        log.warning("MQTT: meter %s: unreadable plug message, nothing stored: %s", device_id, exc)
        return [], held
    if note is not None:
        log.info("MQTT: meter %s: %s", device_id, note)
    return items, now_held


def device_from_topic(topic: str, suffix: str = "readings") -> int | None:
    """The meter id in ``wattwise/<id>/<suffix>``, or None for any other topic."""
    parts = meter_topic(topic)
    return parts[0] if parts is not None and parts[1] == suffix else None


def _log_failure(what: str, future: Future[Any]) -> None:
    """Log a background store call that failed (nothing waits for it to say so)."""
    if (exc := future.exception()) is not None:
        log.error("%s failed: %s", what, exc)


class NotJson(ValueError):
    """A payload that is not JSON: answered with this error and acknowledged, never stored."""


def payload_items(payload: bytes) -> list[Any]:
    """The readings of a payload the pipeline's whole-body fast path declined (one reading or a list)."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise NotJson(f"body: not valid JSON ({exc})") from exc
    return parsed if isinstance(parsed, list) else [parsed]


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
        client_id: str = "",
        session_expiry_s: int = 86_400,
    ) -> None:
        self._services = services
        self._host, self._port = host, port
        self._group = group
        self._session_expiry_s = session_expiry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refusals: dict[int, tuple[str | None, float]] = {}  # meter → (why refused, when looked)
        self._known_plugs: dict[int, plug_store.Plug] = {}  # what this process has stored
        #: Called (on paho's thread) after each successful (re)connection: other publishers on
        #: this connection (Home Assistant discovery) subscribe and announce themselves there.
        self.on_connected: list[Callable[[mqtt.Client], None]] = []
        self.client = server_client(client_id or f"wattwise-server-{id(self):x}", username, password, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    @classmethod
    def from_settings(cls, services: Services) -> MqttIngest:
        s = services.settings
        host, port = broker_address(s.mqtt)
        return cls(
            services,
            host,
            port,
            username=s.mqtt_username,
            password=s.mqtt_password,
            group=s.mqtt_shared_group,
            client_id=s.mqtt_client_id or f"wattwise-{s.mqtt_shared_group}-{socket.gethostname()}-{s.port}",
            session_expiry_s=s.mqtt_session_expiry_s,
        )

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._services.bus.on("commands", self._on_command)
        self._services.bus.on("ota", lambda m: self._send_manifest(m.payload))
        # A persistent session: readings published while this server is down wait in the
        # broker (QoS 1) and arrive, unacknowledged until stored, when it is back.
        connect_persistent(self.client, self._host, self._port, self._session_expiry_s)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", self._host, self._port, reason)
            return
        share = f"$share/{self._group}/" if self._group else ""
        filters = (READINGS_FILTER, RESULTS_FILTER, *PLUG_FILTERS)
        client.subscribe([(share + topic_filter, 1) for topic_filter in filters])
        log.info("listening for readings on MQTT %s:%s (%s)", self._host, self._port, share + READINGS_FILTER)
        for hook in self.on_connected:
            hook(client)

    def _refusal(self, device_id: int) -> str | None:
        """Why the meter's readings are refused (no such meter, its key revoked), or None.

        The broker lets in whoever its password file names, and that file is written again
        only when someone runs ``wattwise mqtt credentials``: a revoked meter must be refused
        here, as over HTTP. Looked up again after ``KEY_CACHE_S``, as keys are, so a revoke
        made in any process takes hold within seconds.
        """
        now = time.monotonic()
        cached = self._refusals.get(device_id)
        if cached is not None and now - cached[1] < KEY_CACHE_S:
            return cached[0]
        with self._services.engine.connect() as conn:
            try:
                device = get_device(conn, device_id)
            except NotFound as exc:
                reason: str | None = str(exc)
            else:
                reason = (
                    None
                    if device.key_prefix is not None
                    else f"meter {device_id}: its key is revoked; readings refused"
                )
        if len(self._refusals) > 100_000:
            self._refusals.clear()
        self._refusals[device_id] = (reason, now)
        return reason

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if (reporter := device_from_topic(msg.topic, "commands/result")) is not None:
            self._on_result(reporter, msg)
            client.ack(msg.mid, msg.qos)
            return
        parts = meter_topic(msg.topic)
        if parts is None or (parts[1] != "readings" and not plugs.handles(parts[1])):
            log.warning("MQTT: ignored %s (not wattwise/<meter id>/readings or a smart plug's topic)", msg.topic)
            client.ack(msg.mid, msg.qos)
            return
        device_id, tail = parts
        if (refused := self._refusal(device_id)) is not None:
            log.warning("MQTT: ignored %s (%s)", msg.topic, refused)
            self._reply(device_id, orjson.dumps({"error": refused}))
            client.ack(msg.mid, msg.qos)
            return
        if tail != "readings":
            self._on_plug(device_id, tail, msg)
            return
        self._resend_waiting(device_id)
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(
            self._services.pipeline.ingest_json(device_id, bytes(msg.payload), payload_items), self._loop
        )
        future.add_done_callback(lambda f: self._done(f, device_id, msg))

    def _on_plug(self, device_id: int, tail: str, msg: mqtt.MQTTMessage) -> None:
        """A smart plug's message: its kind remembered, an answer to a command recorded, then
        the readings it carries stored like any (acknowledged after)."""
        payload = bytes(msg.payload)
        if not self._learn(device_id, tail) and self._services.pending_commands.may_have(device_id):
            self._resend_waiting(device_id)
        try:
            reply = plugs.answer(tail, payload)
        except PayloadError as exc:
            log.warning("MQTT: meter %s: unreadable answer of its plug: %s", device_id, exc)
            reply = None
        if reply is not None:
            self._on_answer(device_id, reply)
        if not plugs.carries_readings(tail):
            self.client.ack(msg.mid, msg.qos)
            return
        assert self._loop is not None
        # read against what the plug sent before, where that is kept (``Pipeline.ingest_held``)
        read = partial(_read_plug, device_id, tail, payload, now_ms())
        future = asyncio.run_coroutine_threadsafe(self._services.pipeline.ingest_held(device_id, read), self._loop)
        future.add_done_callback(lambda f: self._done(f, device_id, msg))

    def _learn(self, device_id: int, tail: str) -> bool:
        """Store the plug kind this topic shows, once per process and change; True when it was
        news here: the meter's pending commands then go out at once, in its language."""
        told = plugs.plug_of(tail)
        known = self._known_plugs.get(device_id)
        if told is None or (merged := plug_store.merge(known, told)) == known:
            return False
        self._known_plugs[device_id] = merged
        assert self._loop is not None
        stored = asyncio.run_coroutine_threadsafe(self._services.pipeline.remember_plug(device_id, told), self._loop)
        try:
            stored.result()  # before the commands are sent, which read it back
        except Exception:
            log.exception("MQTT: meter %s: storing its plug kind failed", device_id)
            self._known_plugs.pop(device_id, None)
            return False
        with self._services.engine.connect() as conn:
            waiting = command_store.pending(conn, device_id)
        if waiting:
            self._send_commands(device_id, waiting)
        return True

    def _on_answer(self, device_id: int, reply: plugs.Answer) -> None:
        """Record what a plug's answer settles: the request it echoes (Shelly), or each sent
        relay command asking for the state it reports (Tasmota, ESPHome, Shelly's status)."""
        if reply.command_id is None and not self._services.pending_commands.may_have(device_id):
            return
        with self._services.engine.connect() as conn:
            waiting = command_store.pending(conn, device_id)
        if reply.command_id is not None:
            echoed = [c for c in waiting if c.id == reply.command_id]
            if not echoed:
                log.warning(
                    "MQTT: meter %s answered request %s, not a pending command of its", device_id, reply.command_id
                )
            for c in echoed:
                relay = RELAY_WANTED.get(c.action) if reply.error is None else None
                detail = reply.error or f"the plug switched its relay {relay}"
                self._record(c, ok=reply.error is None, relay=relay, detail=detail)
        elif reply.relay is not None:
            for c in plugs.answered(waiting, reply.relay):
                self._record(c, ok=True, relay=reply.relay, detail=f"the plug reports its relay {reply.relay}")

    def _record(self, command: command_store.Command, *, ok: bool, relay: str | None, detail: str) -> None:
        """Hand a plug's answer to ``command_results.record``, the one way results are stored."""
        assert self._loop is not None
        stored = asyncio.run_coroutine_threadsafe(
            command_results.record(self._services, command.id, command.device_id, ok=ok, relay=relay, detail=detail),
            self._loop,
        )
        stored.add_done_callback(partial(_log_failure, f"MQTT: recording the answer to command {command.id}"))

    def _done(
        self, future: Future[IngestResult] | Future[IngestResult | None], device_id: int, msg: mqtt.MQTTMessage
    ) -> None:
        try:
            result = future.result()
        except NotJson as exc:
            log.warning("MQTT: meter %s sent invalid JSON: %s", device_id, exc)
            self._reply(device_id, orjson.dumps({"error": str(exc)}))
            self.client.ack(msg.mid, msg.qos)  # sending it again would not make it JSON
            return
        except Exception:
            log.exception("MQTT: storing readings of meter %s failed; not acknowledged", device_id)
            return
        self.client.ack(msg.mid, msg.qos)
        if result is None:  # a plug's message held until its reading is complete: nothing to answer
            return
        if result.rejected:
            log.warning(
                "MQTT: meter %s: %d readings rejected: %s",
                device_id,
                len(result.rejected),
                result.rejected[0].errors,
            )
        self._reply(device_id, result_payload(result))

    def _on_result(self, device_id: int, msg: mqtt.MQTTMessage) -> None:
        """Record a command's result (once), as ``POST /api/v1/commands/{id}/result`` does."""
        try:
            body = orjson.loads(msg.payload)
            command_id = int(body["id"])
            ok = bool(body["ok"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("MQTT: meter %s sent an unreadable command result: %r", device_id, msg.payload[:200])
            return
        relay = body.get("relay") if body.get("relay") in ("on", "off") else None
        detail = str(body.get("detail", ""))
        assert self._loop is not None
        stored = asyncio.run_coroutine_threadsafe(
            command_results.record(self._services, command_id, device_id, ok=ok, relay=relay, detail=detail),
            self._loop,
        )
        try:
            stored.result()  # acknowledged only once stored, like readings
        except NotFound:
            log.warning("MQTT: meter %s reported on unknown command %s", device_id, command_id)

    def _resend_waiting(self, device_id: int) -> None:
        """Commands not yet answered go out again (devices carry out each id once)."""
        with self._services.engine.connect() as conn:
            waiting = command_store.pending(conn, device_id)
        now = now_ms()
        due = [c for c in waiting if c.delivered_ms is None or now - c.delivered_ms > RESEND_AFTER_MS]
        if due:
            self._send_commands(device_id, due)

    def _on_command(self, message: Message) -> None:
        """Send a command issued here, or one another process issued (bus link) as stored.

        What comes over the link is only as trustworthy as the broker's ACL: a remote command
        goes out only if the database holds it, pending, for that meter, and as it is stored
        there (a rare read on the loop: commands are a person's or a rule's action)."""
        command: command_store.Command = message.payload
        if message.remote:
            with self._services.engine.connect() as conn:
                waiting = command_store.pending(conn, command.device_id)
            stored = next((c for c in waiting if c.id == command.id), None)
            if stored is None:
                log.warning("MQTT: a command from the bus link is not pending in the database; not sent: %s", command)
                return
            command = stored
        self._send_commands(command.device_id, [command])

    def _send_commands(self, device_id: int, commands: list[command_store.Command]) -> None:
        """Publish each command in the meter's language: Wattwise's JSON, or its plug's own.

        A command a plug cannot take (an energy reset, issued before it was known as a plug)
        is recorded failed, naming why; one it cannot take yet (an ESPHome plug whose switch
        has not shown itself) waits, pending."""
        with self._services.engine.connect() as conn:  # commands are rare: a short read is fine
            plug = plug_store.plug_of(conn, device_id)
        prefix = f"{TOPIC_PREFIX}/{device_id}"
        ids = []
        for command in commands:
            if plug is None:
                topic, payload = f"{prefix}/commands", orjson.dumps(command.for_device())
            else:
                try:
                    topic, payload = plugs.outgoing(prefix, plug, command)
                except Unsendable as exc:
                    if command.action in RELAY_WANTED:
                        log.warning("MQTT: command %s to meter %s waits: %s", command.id, device_id, exc)
                    else:
                        self._record(command, ok=False, relay=None, detail=str(exc))
                    continue
            self.client.publish(topic, payload, qos=1)
            ids.append(command.id)
        if ids:
            self._services.writer.post(lambda c: command_store.mark_delivered_again(c, ids))

    def _send_manifest(self, manifest: command_store.Manifest) -> None:
        with self._services.engine.connect() as conn:  # a rare admin action: a short read is fine
            ids = [d.id for d in list_devices(conn)]
        for device_id in ids:
            self.client.publish(f"{TOPIC_PREFIX}/{device_id}/ota", orjson.dumps(manifest.as_json()), qos=1, retain=True)

    def _reply(self, device_id: int, body: bytes) -> None:
        self.client.publish(f"{TOPIC_PREFIX}/{device_id}/ingest/result", body, qos=0)
