"""Shelly Gen2/Gen3 plugs and switches with metering (Plus Plug S, Plus 1PM, …), channel 0.

With the MQTT topic prefix set to ``wattwise/<id>``, the plug publishes its whole switch
status on ``<prefix>/status/switch:0`` (``"Generic status update over MQTT"``) and RPC
notifications on ``<prefix>/events/rpc``: a ``NotifyStatus`` there carries only the fields
that changed (``{"params": {"ts": 1632600459.12, "switch:0": {"apower": 8.1}}}``), meant to be
laid over a known status. So the last status is held per meter and each notification merged
into it. Units: apower W, voltage V, current A, aenergy.total Wh, freq Hz, pf.

Time: a notification's ``params.ts`` (Unix seconds, UTC). A full status carries no time of
its own (``aenergy.minute_ts`` is the start of the minute its ``by_minute`` counts cover, the
same for every status within that minute, so it would make them duplicates of each other);
it takes the server's arrival time.
"""

from __future__ import annotations

from typing import Any

from wattwise.domain.timestamps import epoch_ms
from wattwise.ingest.formats import Item, PayloadError, json_object, number

STATUS = "status/switch:0"
EVENTS = "events/rpc"
TOPICS = (STATUS, EVENTS)
_CHANNEL = "switch:0"

Status = dict[str, Any]


def readings(tail: str, payload: bytes, held: Status | None, now_ms: int) -> tuple[list[Item], Status | None]:
    """The reading a status or notification makes, and the status to hold for the next one."""
    body = json_object(payload, tail)
    if tail == STATUS:
        return [_reading(body, now_ms, STATUS)], body
    if body.get("method") != "NotifyStatus":
        return [], held  # NotifyEvent, NotifyFullStatus of other components: nothing metered
    params = body.get("params")
    if not isinstance(params, dict):
        raise PayloadError(f"{tail}: NotifyStatus without a params object")
    changed = params.get(_CHANNEL)
    if not isinstance(changed, dict):
        return [], held  # a notification about another component (wifi, input:0, switch:1, …)
    merged = _overlay(held or {}, changed)
    ts = number(params.get("ts"), f"{tail}: params.ts")
    if merged.get("apower") is None and merged.get("current") is None:
        return [], merged  # a change before any full status: wait for the power
    return [_reading(merged, epoch_ms(ts) if ts is not None else now_ms, f"{tail}: {_CHANNEL}")], merged


def _overlay(status: Status, changed: Status) -> Status:
    """``status`` with ``changed`` laid over it, nested objects (``aenergy``) field by field."""
    merged = dict(status)
    for key, value in changed.items():
        below = merged.get(key)
        merged[key] = _overlay(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def _reading(status: Status, ts: int, where: str) -> Item:
    aenergy = status.get("aenergy")
    values = {
        "power": number(status.get("apower"), f"{where}.apower"),
        "voltage": number(status.get("voltage"), f"{where}.voltage"),
        "current": number(status.get("current"), f"{where}.current"),
        "energy": number(aenergy.get("total"), f"{where}.aenergy.total") if isinstance(aenergy, dict) else None,
        "frequency": number(status.get("freq"), f"{where}.freq"),
        "pf": number(status.get("pf"), f"{where}.pf"),
    }
    if values["power"] is None and values["current"] is None:
        raise PayloadError(f"{where}: neither apower nor current (a switch without metering?)")
    item: Item = {"ts": ts}
    item.update({k: v for k, v in values.items() if v is not None})
    return item
