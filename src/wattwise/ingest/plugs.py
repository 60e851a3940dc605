"""Smart plugs on MQTT (Tasmota, Shelly Gen2, ESPHome): each topic to its translator.

Every plug publishes under its meter's own tree (``wattwise/<id>/…``, see docs/devices.md),
so the broker's ACL keeps a plug to its own meter as it does for ``wattwise/<id>/readings``.
The translators in ``formats/`` are pure; what Shelly and ESPHome need from a meter's earlier
messages (the last full status, the latest value of each sensor, the last reading's time) is held in the store
(``store.plugs.held_state``), read and replaced in the transaction that stores the message's
readings under the meter's lock (``Pipeline.ingest_held``): the broker's shared subscription
hands one plug's messages to whichever server process is free, and each must read what the
others held.

Commands go the other way: a meter's kind (``store/plugs.py``) is learnt from the topics its
plug publishes on (``plug_of``), ``outgoing`` puts a relay command in that kind's language,
and ``answer`` reads the plug's reply (a relay state, or Shelly's RPC response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattwise.ingest.formats import RELAY_WANTED, Item, PayloadError, esphome, shelly, tasmota
from wattwise.store.commands import Command
from wattwise.store.plugs import Plug

#: Topic tails under ``wattwise/<id>/`` the server subscribes to (MQTT filters).
TOPIC_FILTERS = (
    *tasmota.TOPICS,
    *shelly.TOPICS,
    *esphome.TOPICS,
    *tasmota.ANSWERS,
    shelly.ANSWER,
    esphome.SWITCH_STATE,
)


def _esphome_sensor(tail: str) -> bool:
    return tail.startswith("sensor/") and tail.endswith("/state")


def handles(tail: str) -> bool:
    """Whether ``tail`` (the topic after ``wattwise/<id>/``) is a plug topic read here."""
    return plug_of(tail) is not None


def carries_readings(tail: str) -> bool:
    """Whether a message on ``tail`` is telemetry (the rest are only answers to commands)."""
    return tail in tasmota.TOPICS or tail in shelly.TOPICS or _esphome_sensor(tail)


def plug_of(tail: str) -> Plug | None:
    """The kind of plug that publishes on ``tail`` (with ESPHome's switch when it names it)."""
    if tail in tasmota.TOPICS or tail in tasmota.ANSWERS:
        return Plug("tasmota")
    if tail in shelly.TOPICS or tail == shelly.ANSWER:
        return Plug("shelly")
    if _esphome_sensor(tail):
        return Plug("esphome")
    switch = esphome.switch_of(tail)
    return None if switch is None else Plug("esphome", switch)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a plug said about its relay: the state it is in now, or the outcome of one request.

    ``command_id`` is set only where the plug echoes our request (Shelly's RPC response);
    Tasmota and ESPHome report the state alone, which answers the relay commands asking it."""

    relay: str | None
    command_id: int | None = None
    error: str | None = None


def answer(tail: str, payload: bytes) -> Answer | None:
    """The plug's answer in this message, None when it carries none (a reading alone)."""
    if tail in tasmota.ANSWERS:
        relay = tasmota.relay_state(tail, payload)
    elif tail == shelly.ANSWER:
        rpc = shelly.rpc_answer(payload)
        return Answer(None, rpc.request_id, rpc.error)
    elif tail in shelly.TOPICS:
        relay = shelly.relay_state(tail, payload)
    elif esphome.switch_of(tail) is not None:
        relay = esphome.relay_state(payload)
    else:
        return None
    return None if relay is None else Answer(relay)


def answered(waiting: list[Command], relay: str) -> list[Command]:
    """The pending commands a reported relay state answers: those sent that asked for it."""
    return [c for c in waiting if c.delivered_ms is not None and RELAY_WANTED.get(c.action) == relay]


def outgoing(prefix: str, plug: Plug, command: Command) -> tuple[str, bytes]:
    """The topic (under ``prefix``, the meter's tree) and payload of a command to this plug.

    Raises ``Unsendable`` naming why for what this kind of plug is not sent (or not yet)."""
    if plug.kind == "tasmota":
        tail, payload = tasmota.command(command.action)
    elif plug.kind == "shelly":
        tail, payload = shelly.command(prefix, command.id, command.action)
    else:
        tail, payload = esphome.command(plug.switch, command.action)
    return f"{prefix}/{tail}", payload


def translate(tail: str, payload: bytes, held: Any, now_ms: int) -> tuple[list[Item], Any, str | None]:
    """The readings a plug's message makes, what to hold for its next message (JSON, as
    ``store.plugs.hold_state`` keeps it; ``held`` is what was held, None at first), and a note
    to log (an ignored sensor, said once).

    Most plug readings take their arrival time. Messages the broker held while the server was
    busy or away arrive in a burst, and two readings in one millisecond would be one reading
    and a duplicate: each reading is made at least a millisecond after the plug's last one.

    Raises PayloadError for a message that cannot be read; what is held stays as it was.
    """
    before = held if isinstance(held, dict) else {}
    if tail in tasmota.TOPICS:
        items, now_held, note = tasmota.readings(tail, payload, now_ms), {}, None
    elif tail in shelly.TOPICS:
        items, status = shelly.readings(tail, payload, before.get("shelly"), now_ms)
        now_held, note = {"shelly": status}, None
    elif handles(tail):
        was = before.get("esphome")
        sensors = esphome.Held() if was is None else esphome.Held.from_json(was)
        items, sensors, note = esphome.readings(tail, payload, sensors, now_ms)
        now_held = {"esphome": sensors.to_json()}
    else:
        raise PayloadError(f"{tail}: not a topic of a Tasmota, Shelly or ESPHome plug")
    last = int(before.get("last_ts", -1))
    for item in items:
        item["ts"] = last = max(int(item["ts"]), last + 1)
    return items, {**now_held, "last_ts": last}, note
