"""Energy each meter has used since an instant (local midnight, for "today"), from the cheapest tiers.

Every reading carries ``wh`` (the energy since the meter's previous reading), so energy over
a range is a plain sum. The range is cut into a head of whole minutes before the first whole
UTC hour (zones such as +05:30 start their day mid-hour), whole hours, and the current hour
from raw readings — so the answer never waits for a rollup refresh of the last minutes.
The caller decides where the day starts (``wattwise.analysis.energy.local_midnight_ms``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text

from wattwise.store.rollups import whole_hours

_SUM = text(
    "SELECT device_id, sum(wh) FROM ("
    " SELECT device_id, wh FROM rollup_1m WHERE device_id IN :ids AND ts >= :since AND ts < :first_hour"
    " UNION ALL"
    " SELECT device_id, wh FROM rollup_1h WHERE device_id IN :ids AND ts >= :first_hour AND ts < :this_hour"
    " UNION ALL"
    " SELECT device_id, wh FROM readings WHERE device_id IN :ids AND ts >= :this_hour"
    ") AS parts GROUP BY device_id"
).bindparams(bindparam("ids", expanding=True))


def range_parts(since_ms: int, now_ms: int) -> dict[str, int]:
    """Split [since, now] at whole UTC hours: minutes, then hours, then raw readings."""
    hours = whole_hours(since_ms, now_ms)
    if hours is None:  # no whole hour: all of it from raw readings
        return {"since": since_ms, "first_hour": since_ms, "this_hour": since_ms}
    return {"since": since_ms, "first_hour": hours[0], "this_hour": hours[1]}


def energy_since(conn: Connection, device_ids: Iterable[int], *, since_ms: int, now_ms: int) -> dict[int, float]:
    """Wh used by each meter from ``since_ms`` on; 0.0 for a meter with no readings."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    totals = dict.fromkeys(ids, 0.0)
    for device_id, wh in conn.execute(_SUM, {"ids": ids, **range_parts(since_ms, now_ms)}):
        totals[int(device_id)] = float(wh or 0.0)
    return totals
