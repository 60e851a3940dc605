"""Write a meter's readings once each, with the energy each adds, and keep the rollups true.

``write_readings`` is the only code that inserts readings. It runs inside the writer's
transaction, so the readings, their energy and their rollups commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text, update

from wattwise.domain.energy import DEFAULT_RULES, EnergyRules, interval_energy
from wattwise.domain.readings import METRICS, Reading, StoredReading
from wattwise.store import rollups
from wattwise.store.bulk import insert_many
from wattwise.store.devices import touch_last_seen
from wattwise.store.schema import readings

_UPDATE_WH = (
    update(readings)
    .where(readings.c.device_id == bindparam("d"))
    .where(readings.c.ts == bindparam("t"))
    .values(wh=bindparam("new_wh"))
)
#: A transaction-scoped advisory lock per meter: key pair ("Watu" in ASCII, meter id).
_LOCK_METER = text("SELECT pg_advisory_xact_lock(1466004597, CAST(:d AS integer))")
_NEIGHBOURS = text(
    "SELECT ts, energy, power FROM ("
    " SELECT ts, energy, power FROM readings WHERE device_id = :d AND ts < :lo"
    " ORDER BY ts DESC LIMIT 1) AS before_batch "
    "UNION ALL SELECT ts, energy, power FROM readings WHERE device_id = :d"
    " AND ts >= :lo AND ts <= :hi "
    "UNION ALL SELECT ts, energy, power FROM ("
    " SELECT ts, energy, power FROM readings WHERE device_id = :d AND ts > :hi"
    " ORDER BY ts LIMIT 1) AS after_batch"
)


_COLUMNS = ("device_id", "ts", *METRICS, "wh")


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: list[StoredReading]
    duplicates: int


@dataclass(slots=True)
class _Point:
    ts: int
    energy: float | None
    power: float | None
    new: Reading | None  # None for a reading already in the store


def lock_meter(conn: Connection, device_id: int) -> None:
    """Wait, until this transaction ends, for any other process's transaction storing this meter.

    Several server processes may store one meter at once (MQTT's shared subscription hands
    its messages to whichever is free). Each must see the other's readings before it computes
    energy from the neighbours or calls one new (and a plug's held state before it reads the
    next message against it): one meter's writes wait for each other until commit. Every
    transaction takes the marks' lock before its meters', meters in order
    (``writer.in_meter_order``), so no two processes ever wait for each other in a circle.
    Taken again in the same transaction, it is already held. SQLite has one writer: nothing
    to wait for."""
    if conn.dialect.name == "postgresql":
        rollups.take_marks_lock(conn)
        conn.execute(_LOCK_METER, {"d": device_id})


def write_readings(
    conn: Connection,
    device_id: int,
    batch: Sequence[Reading],
    rules: EnergyRules = DEFAULT_RULES,
) -> WriteResult:
    """Store the readings of one meter that are not stored yet; return them and the duplicates.

    A reading whose (device, ts) is already stored — or repeated within the batch — is a
    duplicate: the first value wins, a retry never creates a second row. Energy is
    recomputed for the new readings and for a stored reading whose predecessor changed
    because a late reading landed just before it.
    """
    if not batch:
        return WriteResult(stored=[], duplicates=0)
    lock_meter(conn, device_id)
    ordered = sorted(batch, key=lambda r: r.ts)
    lo, hi = ordered[0].ts, ordered[-1].ts
    stored_points = [
        _Point(row.ts, row.energy, row.power, None)
        for row in conn.execute(_NEIGHBOURS, {"d": device_id, "lo": lo, "hi": hi})
    ]
    seen = {p.ts for p in stored_points}
    fresh: list[Reading] = []
    for reading in ordered:
        if reading.ts not in seen:
            seen.add(reading.ts)
            fresh.append(reading)
    duplicates = len(batch) - len(fresh)
    if not fresh:
        return WriteResult(stored=[], duplicates=duplicates)

    rows, changed = _energy(device_id, stored_points, fresh, rules)
    insert_many(conn, "readings", _COLUMNS, rows, "ON CONFLICT (device_id, ts) DO NOTHING")
    if changed:
        conn.execute(_UPDATE_WH, changed)
    rollups.mark(conn, device_id, [r.ts for r in fresh] + [int(c["t"]) for c in changed])  # type: ignore[call-overload]
    touch_last_seen(conn, device_id, hi)
    return WriteResult(
        stored=[StoredReading(reading=r, wh=row[-1]) for r, row in zip(fresh, rows, strict=True)],
        duplicates=duplicates,
    )


def _energy(
    device_id: int, stored_points: list[_Point], fresh: list[Reading], rules: EnergyRules
) -> tuple[list[tuple[Any, ...]], list[dict[str, object]]]:
    """Rows to insert (with their energy) and stored readings whose energy changes."""
    if all(p.ts < fresh[0].ts for p in stored_points):  # the usual case: new data after the old
        previous: Any = stored_points[-1] if stored_points else None
        rows = []
        for r in fresh:
            wh = (
                0.0
                if previous is None
                else interval_energy(previous.ts, previous.energy, previous.power, r.ts, r.energy, r.power, rules)
            )
            rows.append(_row(r, wh))
            previous = r
        return rows, []
    merged = sorted(stored_points + [_Point(r.ts, r.energy, r.power, r) for r in fresh], key=lambda p: p.ts)
    by_ts: dict[int, tuple[Any, ...]] = {}
    changed: list[dict[str, object]] = []
    before: _Point | None = None
    for point in merged:
        if point.new is not None or (before is not None and before.new is not None):
            wh = (
                0.0
                if before is None
                else interval_energy(before.ts, before.energy, before.power, point.ts, point.energy, point.power, rules)
            )
            if point.new is not None:
                by_ts[point.ts] = _row(point.new, wh)
            else:
                changed.append({"d": device_id, "t": point.ts, "new_wh": wh})
        before = point
    return [by_ts[r.ts] for r in fresh], changed


def _row(r: Reading, wh: float) -> tuple[Any, ...]:
    return (r.device_id, r.ts, r.voltage, r.current, r.power, r.energy, r.frequency, r.pf, wh)
