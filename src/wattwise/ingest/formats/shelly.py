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

from dataclasses import dataclass
from typing import Any

import orjson

from wattwise.domain.timestamps import epoch_ms
from wattwise.ingest.formats import RELAY_WANTED, Item, PayloadError, Unsendable, json_object, number

STATUS = "status/switch:0"
EVENTS = "events/rpc"
TOPICS = (STATUS, EVENTS)
#: An RPC request on ``<prefix>/rpc`` is answered on ``<src>/rpc``; our requests name
#: ``<prefix>/result`` as their ``src``, so the answers stay in the meter's own tree.
SRC = "result"
ANSWER = f"{SRC}/rpc"
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


@dataclass(frozen=True, slots=True)
class RpcAnswer:
    """A JSON-RPC response frame: the request's id, and the error message when it failed."""

    request_id: int
    error: str | None


def command(prefix: str, command_id: int, action: str) -> tuple[str, bytes]:
    """``Switch.Set`` on channel 0 over MQTT RPC, numbered with the command's id."""
    wanted = RELAY_WANTED.get(action)
    if wanted is None:
        raise Unsendable(f"{action}: a Shelly plug is sent only relay_off and relay_on")
    request = {
        "id": command_id,
        "src": f"{prefix}/{SRC}",
        "method": "Switch.Set",
        "params": {"id": 0, "on": wanted == "on"},
    }
    return "rpc", orjson.dumps(request)


def rpc_answer(payload: bytes) -> RpcAnswer:
    """The response frame on ``<src>/rpc``: ``{"id": n, "result": …}`` or ``{"id": n, "error": …}``."""
    body = json_object(payload, ANSWER)
    request_id = body.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise PayloadError(f"{ANSWER}: id {request_id!r} is not a request number")
    error = body.get("error")
    if error is None:
        return RpcAnswer(request_id, None)
    message = error.get("message", error) if isinstance(error, dict) else error
    return RpcAnswer(request_id, str(message)[:400])


def relay_state(tail: str, payload: bytes) -> str | None:
    """The switch's ``output`` in a full status or a NotifyStatus about ``switch:0``, as on/off."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and tail == EVENTS and body.get("method") == "NotifyStatus":
        params = body.get("params")
        body = params.get(_CHANNEL) if isinstance(params, dict) else None
    output = body.get("output") if isinstance(body, dict) else None
    return None if not isinstance(output, bool) else ("on" if output else "off")
