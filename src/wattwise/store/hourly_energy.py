"""Energy per UTC hour of each meter, from the 1-hour rollup: what calendars and bills are built on.

Each hourly rollup holds ``sum(wh)`` of the readings in the hour, so any local day, week,
month or billing cycle is a sum of them (split by time where a local boundary falls inside
an hour, as in India). Rollups follow commits within a second; ``stale`` says whether the
caller must flush the writer first to read the newest readings exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text

from wattwise.store import rollups

_RAW = text(
    "SELECT device_id, sum(wh) FROM readings WHERE device_id IN :ids AND ts >= :lo AND ts <= :hi GROUP BY device_id"
).bindparams(bindparam("ids", expanding=True))

_HOURS = text(
    "SELECT device_id, ts, wh FROM rollup_1h WHERE device_id IN :ids AND ts >= :lo AND ts < :hi ORDER BY device_id, ts"
).bindparams(bindparam("ids", expanding=True))


def stale(conn: Connection, device_ids: Iterable[int], start_ms: int, end_ms: int) -> bool:
    """Whether a rollup of these meters in the range still waits for the writer's refresh."""
    return any(rollups.pending(conn, d, start_ms, end_ms) for d in device_ids)


def hourly_energy(
    conn: Connection, device_ids: Iterable[int], start_ms: int, end_ms: int
) -> dict[int, tuple[list[int], list[float]]]:
    """Per meter: the starts (UTC ms) of its hours in ``[start_ms, end_ms)`` that have data, and their Wh."""
    ids = sorted(set(device_ids))
    out: dict[int, tuple[list[int], list[float]]] = {d: ([], []) for d in ids}
    if not ids:
        return out
    for device_id, ts, wh in conn.execute(_HOURS, {"ids": ids, "lo": start_ms, "hi": end_ms}):
        starts, values = out[int(device_id)]
        starts.append(int(ts))
        values.append(float(wh))
    return out


def raw_energy(conn: Connection, device_ids: Iterable[int], start_ms: int, until_ms: int) -> dict[int, float]:
    """Per meter: the Wh of its readings stamped in ``[start_ms, until_ms]`` (each reading's
    energy was used before its stamp), from the raw tier; meters with none are absent."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    rows = conn.execute(_RAW, {"ids": ids, "lo": start_ms, "hi": until_ms})
    return {int(device_id): float(wh) for device_id, wh in rows if wh is not None}
