"""Which kind of smart plug a meter is: what its commands must be translated into.

Learnt from the plug's own messages (``ingest/mqtt.py``), never guessed: a meter with no row
here is sent commands on ``wattwise/<id>/commands`` as a Wattwise meter is. Kept in the store
so that it survives a restart and every server process sends alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from wattwise.store.clock import now_ms
from wattwise.store.schema import plug_held, plug_kinds

KINDS = ("tasmota", "shelly", "esphome")
PLUG_NAMES = {"tasmota": "Tasmota", "shelly": "Shelly", "esphome": "ESPHome"}


@dataclass(frozen=True, slots=True)
class Plug:
    kind: str  # one of KINDS
    switch: str | None = None  # ESPHome: the switch's object_id, known once it published its state


def plug_of(conn: Connection, device_id: int) -> Plug | None:
    """The meter's plug kind, or None for a meter that has not spoken as a plug."""
    row = conn.execute(select(plug_kinds).where(plug_kinds.c.device_id == device_id)).first()
    return None if row is None else Plug(kind=row.kind, switch=row.switch)


def merge(known: Plug | None, told: Plug) -> Plug:
    """What is known after a message told ``told``: a known switch is kept when it names none;
    a plug flashed with other firmware changes kind."""
    return told if told.switch is not None or known is None or known.kind != told.kind else known


def remember(conn: Connection, device_id: int, plug: Plug) -> Plug:
    """Store what a plug message told (see ``merge``); returns what is stored now."""
    if plug.kind not in KINDS:
        raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {plug.kind!r}")
    known = plug_of(conn, device_id)
    merged = merge(known, plug)
    if known is None:
        conn.execute(insert(plug_kinds).values(device_id=device_id, kind=merged.kind, switch=merged.switch))
    elif known != merged:
        conn.execute(
            update(plug_kinds).where(plug_kinds.c.device_id == device_id).values(kind=merged.kind, switch=merged.switch)
        )
    return merged


def held_state(conn: Connection, device_id: int) -> Any:
    """What the meter's plug's next message is read against (JSON), or None before its first.

    Read and replaced inside the transaction that stores the message's readings, under the
    meter's lock (``readings.lock_meter``): two server processes never read the same state."""
    data = conn.execute(select(plug_held.c.data).where(plug_held.c.device_id == device_id)).scalar()
    return None if data is None else json.loads(data)


def hold_state(conn: Connection, device_id: int, state: Any) -> None:
    data = json.dumps(state, separators=(",", ":"))
    changed = conn.execute(
        update(plug_held).where(plug_held.c.device_id == device_id).values(data=data, updated_ms=now_ms())
    ).rowcount
    if not changed:
        conn.execute(insert(plug_held).values(device_id=device_id, data=data, updated_ms=now_ms()))
