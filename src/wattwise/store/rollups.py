"""1-minute, 1-hour and 1-day rollups, recomputed from the tier below for the buckets a write touched.

Recomputing (rather than adding increments) makes a rollup a pure function of the rows under
it: late, backfilled or corrected readings land in the right buckets, and re-running a
refresh is harmless.

A write only marks the minutes it touched (``mark``, in the readings' own transaction); the
writer refreshes every marked bucket at most a second later (``refresh_marked``), so a
thousand single-reading uploads cost one refresh, not three thousand statements. After a
crash the marks are still there and the next start catches up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from wattwise.domain.readings import METRICS
from wattwise.store.bulk import insert_many

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    table: str
    width_ms: int


RAW = Tier("raw", "readings", 1)
TIERS: tuple[Tier, ...] = (
    Tier("1m", "rollup_1m", MINUTE_MS),
    Tier("1h", "rollup_1h", HOUR_MS),
    Tier("1d", "rollup_1d", DAY_MS),
)

_STAT_COLUMNS = ", ".join(f"{m}_{s}" for m in METRICS for s in ("n", "sum", "min", "max"))


def _from_raw() -> str:
    return ", ".join(f"count(s.{m}), sum(s.{m}), min(s.{m}), max(s.{m})" for m in METRICS)


def _from_tier() -> str:
    return ", ".join(f"sum(s.{m}_n), sum(s.{m}_sum), min(s.{m}_min), max(s.{m}_max)" for m in METRICS)


def _refresh_sql(target: Tier, source: Tier) -> str:
    """Recompute ``target`` for the buckets over the marked minutes, from ``source``, in one statement.

    The marks drive the loop and each bucket seeks its own rows: grouping by the mark's
    columns follows the marks' index, where grouping the source rows by a computed bucket
    made SQLite copy every raw row into a temporary b-tree to sort it (a third of the cost).
    """
    width = target.width_ms
    n_expr, aggregates = ("count(*)", _from_raw()) if source is RAW else ("sum(s.n)", _from_tier())
    updates = ", ".join(f"{c} = excluded.{c}" for c in ["n", *_STAT_COLUMNS.split(", "), "wh"])
    buckets = (
        "rollup_dirty"  # marks are minute starts already
        if width == MINUTE_MS
        else f"(SELECT DISTINCT device_id, ts / {width} * {width} AS ts FROM rollup_dirty)"
    )
    return (
        f"INSERT INTO {target.table} (device_id, ts, n, {_STAT_COLUMNS}, wh) "
        f"SELECT b.device_id, b.ts, {n_expr}, {aggregates}, sum(s.wh) "
        f"FROM {buckets} AS b JOIN {source.table} AS s "
        f"ON s.device_id = b.device_id AND s.ts >= b.ts AND s.ts < b.ts + {width} "
        f"GROUP BY b.device_id, b.ts "
        f"ON CONFLICT (device_id, ts) DO UPDATE SET {updates}"
    )


_REFRESH = [text(_refresh_sql(tier, source)) for tier, source in zip(TIERS, (RAW, *TIERS[:-1]), strict=True)]


def mark(conn: Connection, device_id: int, touched_ts: Iterable[int]) -> None:
    """Note the minutes whose rollups must be recomputed."""
    minutes = {ts // MINUTE_MS * MINUTE_MS for ts in touched_ts}
    rows = [(device_id, m) for m in sorted(minutes)]
    insert_many(conn, "rollup_dirty", ("device_id", "ts"), rows, "ON CONFLICT (device_id, ts) DO NOTHING")


def whole_hours(start: int, end: int) -> tuple[int, int] | None:
    """The whole UTC hours inside ``[start, end)`` as ``(first, last)`` (the hourly rollup
    answers them exactly; what is before ``first`` and from ``last`` on comes from a finer
    tier), or None when no whole hour fits."""
    first, last = -(-start // HOUR_MS) * HOUR_MS, end // HOUR_MS * HOUR_MS
    return (first, last) if first < last else None


def take_marks_lock(conn: Connection) -> None:
    """On PostgreSQL, take now the lock that ``mark`` takes on the marks, before any meter's lock.

    ``refresh_marked`` waits for every transaction holding it, and a transaction asking for it
    queues behind a waiting refresh. Taken first by ``mark``, after a meter's lock, it closed a
    circle with three processes: one held meter 1 and queued behind the refresh, the refresh
    waited for another's marks, and that one waited for meter 1. PostgreSQL broke it by
    reordering the queue, but only after its deadlock timeout (1 s), and every writer stood
    still meanwhile (docs/scale.md). Taken first, nobody waits for it while holding a meter.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE rollup_dirty IN ROW EXCLUSIVE MODE"))


def pending(conn: Connection, device_id: int, lo: int, hi: int) -> bool:
    """Whether some rollup of this meter in [lo, hi) still waits for its refresh."""
    return (
        conn.execute(
            text("SELECT 1 FROM rollup_dirty WHERE device_id = :d AND ts >= :lo AND ts < :hi LIMIT 1"),
            {"d": device_id, "lo": lo - DAY_MS, "hi": hi},
        ).first()
        is not None
    )


def refresh_marked(conn: Connection) -> int:
    """Bring every marked bucket up to date, finest tier first, and clear the marks; returns how many minutes.

    On PostgreSQL several server processes store and refresh at once (docs/scale.md). The
    marks are locked against new ones for the refresh's transaction: a mark another process
    committed after the refresh read the readings, but before it cleared the marks, would
    otherwise be cleared with the others and its minute never rolled up. Storing waits for
    the refresh's commit instead (SQLite has one writer: nothing to lock).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE rollup_dirty IN EXCLUSIVE MODE"))
    marked = int(conn.execute(text("SELECT count(*) FROM rollup_dirty")).scalar_one())
    if marked:
        for statement in _REFRESH:
            conn.execute(statement)
        conn.execute(text("DELETE FROM rollup_dirty"))
    return marked


def refresh(conn: Connection, device_id: int, touched_ts: Iterable[int]) -> None:
    """Recompute every rollup bucket that contains one of ``touched_ts`` (and any other marked one)."""
    mark(conn, device_id, touched_ts)
    refresh_marked(conn)
