"""A meter's history as a reader wants it: exact up to the last committed reading, and where it starts.

Rollups lag the readings' commit by up to a second; ``fresh_series`` asks the writer to
catch up first when the range still has marked buckets, so a chart never shows a reading
as missing that the live view has already shown.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from wattwise.store import rollups
from wattwise.store.series import Series, query_series
from wattwise.store.writer import Writer


def fresh_series(
    engine: Engine,
    writer: Writer,
    device_id: int,
    *,
    metric: str,
    start: int,
    end: int,
    points: int = 1000,
    tier: str | None = None,
    retention: dict[str, int] | None = None,
) -> Series:
    """``query_series`` after any rollup refresh the range is waiting for (blocking: call from a thread)."""
    with engine.connect() as conn:
        waiting = rollups.pending(conn, device_id, start, end)
    if waiting:
        writer.flush()
    with engine.connect() as conn:
        return query_series(
            conn, device_id, metric=metric, start=start, end=end, points=points, tier=tier, retention=retention
        )


_FIRST = text(
    "SELECT min(t) FROM (SELECT min(ts) AS t FROM rollup_1d WHERE device_id = :d"
    " UNION ALL SELECT min(ts) AS t FROM readings WHERE device_id = :d) AS firsts"
)


def first_reading_ms(conn: Connection, device_id: int) -> int | None:
    """When the meter's history begins (to the day, once raw readings have expired); None if never."""
    found = conn.execute(_FIRST, {"d": device_id}).scalar()
    return None if found is None else int(found)
