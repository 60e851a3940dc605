"""Tasmota's energy telemetry: ``tele/SENSOR`` (every TelePeriod) and ``stat/STATUS8``.

``{"Time": "…", "ENERGY": {"Total": 6.294, "Power": 2635, "Factor": 0.99, "Voltage": 227,
"Current": 11.661, …}}``; ``STATUS8`` carries the same inside ``"StatusSNS"``. Units: Total
kWh (stored as Wh), Power W, Voltage V, Current A, Factor the power factor, Frequency Hz.
Multi-channel plugs send arrays: their power, current and energy are summed (the plug's
total), the first channel's voltage and frequency stand for all, and the power factor is
left out (one channel's factor is not the plug's). ``Time`` is the plug's local clock with
no zone, so the reading takes the server's arrival time instead.
"""

from __future__ import annotations

from typing import Any

import orjson

from wattwise.ingest.formats import Item, PayloadError, json_object, number, on_off, relay_word

SENSOR = "tele/SENSOR"
STATUS8 = "stat/STATUS8"
TOPICS = (SENSOR, STATUS8)
#: Where Tasmota answers a ``Power`` command: ``stat/POWER`` (``OFF``) and ``stat/RESULT``
#: (``{"POWER":"OFF"}``; a plug with several relays says ``POWER1`` …, channel 1 is ours).
ANSWERS = ("stat/POWER", "stat/RESULT")

#: ENERGY key → (our field, how a multi-channel array combines, factor to our unit)
_FIELDS: dict[str, tuple[str, str, float]] = {
    "Power": ("power", "sum", 1.0),
    "Current": ("current", "sum", 1.0),
    "Voltage": ("voltage", "first", 1.0),
    "Frequency": ("frequency", "first", 1.0),
    "Total": ("energy", "sum", 1000.0),  # kWh → Wh
    "Factor": ("pf", "single", 1.0),
}


def readings(tail: str, payload: bytes, now_ms: int) -> list[Item]:
    """The one reading in a ``tele/SENSOR`` or ``stat/STATUS8`` message."""
    body: Any = json_object(payload, tail)
    if tail == STATUS8:
        body = body.get("StatusSNS")
        if not isinstance(body, dict):
            raise PayloadError(f"{tail}: no StatusSNS object")
    energy = body.get("ENERGY")
    if not isinstance(energy, dict):
        raise PayloadError(f"{tail}: no ENERGY object (a Tasmota device without energy monitoring?)")
    item: Item = {"ts": now_ms}
    for key, (field, combine, scale) in _FIELDS.items():
        value = _combined(energy.get(key), combine, f"{tail}: ENERGY.{key}")
        if value is not None:
            item[field] = round(value * scale, 6)
    if "power" not in item and "current" not in item:
        raise PayloadError(f"{tail}: ENERGY has neither Power nor Current")
    return [item]


def _combined(value: Any, combine: str, where: str) -> float | None:
    if not isinstance(value, list):
        return number(value, where)
    values = [number(v, f"{where}[{i}]") for i, v in enumerate(value)]
    present = [v for v in values if v is not None]
    if not present or combine == "single":
        return None
    return sum(present) if combine == "sum" else present[0]


def command(action: str) -> tuple[str, bytes]:
    """A relay command as Tasmota takes it: ``cmnd/POWER`` with ``OFF``/``ON``.

    Energy reset is not sent: Tasmota's ``EnergyTotal 0`` would also need its answer told
    apart from other ``stat/RESULT`` messages, so it is refused when issued instead."""
    return "cmnd/POWER", relay_word(action, "Tasmota")


def relay_state(tail: str, payload: bytes) -> str | None:
    """The relay state in a ``stat/POWER`` or ``stat/RESULT`` answer, None when it has none."""
    if tail == "stat/POWER":
        return on_off(payload.decode("utf-8", errors="replace"))
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    value = body.get("POWER", body.get("POWER1"))
    return on_off(value) if isinstance(value, str) else None
