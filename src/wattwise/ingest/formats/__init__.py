"""Payload formats of other firmware, each mapped onto our reading fields.

The smart-plug translators (``tasmota``, ``shelly``, ``esphome``) are pure: a topic's tail,
the payload, what is held for the meter from its earlier messages and the arrival time go
in; readings in our contract's shape (``ts`` in epoch ms, ``voltage``, ``current``,
``power``, ``energy`` in Wh, ``frequency``, ``pf``) or a ``PayloadError`` naming what is
wrong come out. The pipeline then judges those readings as it judges any other.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

#: One reading in our contract's shape, as ``Pipeline.ingest`` takes it.
Item = dict[str, float | int]


class PayloadError(ValueError):
    """A plug's message that cannot be read: logged with this reason, acknowledged, never stored."""


def json_object(payload: bytes, where: str) -> dict[str, Any]:
    """The payload as a JSON object, or a PayloadError naming the topic and what it is instead."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise PayloadError(f"{where}: expected a JSON object, got {type(body).__name__}")
    return body


def number(value: Any, where: str) -> float | None:
    """A finite number, None when absent (null), or a PayloadError naming the field."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(f"{where}: {value!r} is not a number")
    return float(value)


#: The relay state each relay action asks for.
RELAY_WANTED = {"relay_off": "off", "relay_on": "on"}


class Unsendable(ValueError):
    """A command a plug of this kind cannot be sent (or not yet): the reason names why."""


def relay_word(action: str, kind: str) -> bytes:
    """``OFF``/``ON`` for a relay action (Tasmota's and ESPHome's payload), or Unsendable."""
    wanted = RELAY_WANTED.get(action)
    if wanted is None:
        raise Unsendable(f"{action}: a {kind} plug is sent only relay_off and relay_on")
    return wanted.upper().encode()


def on_off(text: str) -> str | None:
    """``on``/``off`` for a plug's ``ON``/``OFF`` (any case), None for anything else."""
    word = text.strip().lower()
    return word if word in ("on", "off") else None
