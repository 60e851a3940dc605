"""ESPHome over MQTT: one plain number per sensor on ``<prefix>/sensor/<object_id>/state``.

The ``object_id`` is the sensor's name in lower case with spaces as underscores ("Plug
Power" → ``plug_power``), so a sensor is recognised by the words in it: ``voltage``,
``current``, ``power`` (not ``apparent_power`` or ``reactive_power``), ``power_factor``,
``frequency`` and ``energy`` (not a ``daily``/``today`` one, which starts again each day).
Energy is taken in Wh, the unit of the ``pzemac`` platform's energy sensor as ESPHome sends
it by default; a sensor filtered to kWh would be read as Wh. Other sensors (temperature,
Wi-Fi signal) are ignored, said once per meter.

A reading needs its values together, and they come one message each: the latest value of
each metric is held per meter, and a reading is made when the power arrives (the current,
for a meter with no power sensor: known as such from its second current with no power in
between) with the other values seen within ``FRESH_MS``. A value
that arrives after the power in the same update goes with the next reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from wattwise.ingest.formats import Item, PayloadError, Unsendable, on_off, relay_word

TOPICS = ("sensor/+/state",)
#: A ``switch`` component's state (``ON``/``OFF``): its answer to a command, and how its
#: object_id (the command topic's middle) becomes known.
SWITCH_STATE = "switch/+/state"
FRESH_MS = 120_000  # twice pzemac's default update interval (60 s)
_IGNORED_WORDS = {"apparent", "reactive", "daily", "today", "yesterday"}


@dataclass(frozen=True, slots=True)
class Held:
    """What one meter has sent so far: metric → (value, arrival ms); sensors already noted."""

    values: dict[str, tuple[float, int]] = field(default_factory=dict)
    has_power: bool = False
    noted: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "values": {m: [v, at] for m, (v, at) in self.values.items()},
            "has_power": self.has_power,
            "noted": sorted(self.noted),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Held:
        values = {str(m): (float(v), int(at)) for m, (v, at) in data.get("values", {}).items()}
        return cls(values, bool(data.get("has_power", False)), frozenset(data.get("noted", ())))


def metric_of(object_id: str) -> str | None:
    """Our metric for a sensor's object id, or None for a sensor Wattwise does not read."""
    words = set(object_id.lower().replace("-", "_").split("_"))
    if words & _IGNORED_WORDS:
        return None
    if "factor" in words or "pf" in words:
        return "pf"
    for metric in ("voltage", "current", "power", "frequency", "energy"):
        if metric in words:
            return metric
    return None


def sensor_of(tail: str) -> str:
    """The object id in ``sensor/<object_id>/state``."""
    kind, _, rest = tail.partition("/")
    object_id, _, state = rest.partition("/")
    if kind != "sensor" or state != "state" or not object_id:
        raise PayloadError(f"{tail}: not sensor/<object_id>/state")
    return object_id


def readings(tail: str, payload: bytes, held: Held, now_ms: int) -> tuple[list[Item], Held, str | None]:
    """The reading this message completes (if any), what to hold next, and a note to log once."""
    object_id = sensor_of(tail)
    metric = metric_of(object_id)
    if metric is None:
        if object_id in held.noted:
            return [], held, None
        note = f"sensor {object_id!r} is none of voltage, current, power, energy, frequency, power_factor; ignored"
        return [], replace(held, noted=held.noted | {object_id}), note
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise PayloadError(f"{tail}: {text[:40]!r} is not a number")
    # A meter is taken to have no power sensor once a second current arrives with no power
    # seen: the first current of a meter that has one would otherwise make a reading too.
    leads = metric == "power" or (metric == "current" and not held.has_power and "current" in held.values)
    values = {**held.values, metric: (value, now_ms)}
    held = replace(held, values=values, has_power=held.has_power or metric == "power")
    if not leads:
        return [], held, None
    item: Item = {"ts": now_ms}
    item.update({m: v for m, (v, at) in values.items() if now_ms - at <= FRESH_MS})
    return [item], held, None


def switch_of(tail: str) -> str | None:
    """The object id in ``switch/<object_id>/state``, None for any other tail."""
    kind, _, rest = tail.partition("/")
    object_id, _, state = rest.partition("/")
    return object_id if kind == "switch" and state == "state" and object_id and "/" not in object_id else None


def command(switch: str | None, action: str) -> tuple[str, bytes]:
    """A relay command as ESPHome's MQTT switch takes it: ``switch/<object_id>/command``."""
    payload = relay_word(action, "ESPHome")
    if switch is None:
        raise Unsendable("no switch/<object_id>/state seen from this ESPHome plug yet: its switch is unknown")
    return f"switch/{switch}/command", payload


def relay_state(payload: bytes) -> str | None:
    """The switch state ``ON``/``OFF`` as on/off, None for anything else."""
    return on_off(payload.decode("utf-8", errors="replace"))
